"""``xinyong audit seal`` and ``xinyong audit verify``: thin commands over :mod:`xinyong.audit.service`.

``seal`` gives committed entries their place in the hash chain and writes a signed checkpoint (in the
database and as a file in ``XINYONG_CHECKPOINT_DIR``; copy those files off the host). ``verify`` walks
the chain against every checkpoint file there (or the one given) and exits 1 naming the first
altered, removed, inserted or reordered entry, or a truncated tail. ``verify`` only reads: it adds
no entry, so it can run on a read-only copy or a restored backup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="审计日志：封存与校验 / audit log: seal and verify", no_args_is_help=True)


@app.command("seal")
def seal() -> None:
    """封存待封存的审计记录并写入签名检查点 / seal pending entries and write a signed checkpoint."""
    from xinyong.audit.service import seal_pending, write_checkpoint
    from xinyong.cli import database, echo, load_ring, settings

    cfg = settings()
    ring = load_ring(cfg)
    with database(cfg) as db:
        with db.session() as s:
            sealed = seal_pending(s)
        # A second unit of work: the checkpoint only ever names a head that is already committed.
        with db.session() as s:
            doc = write_checkpoint(s, ring=ring, directory=cfg.checkpoint_dir)
    echo(f"已封存 / sealed: {sealed} entries")
    echo(f"序号 / seq: {doc['seq']}")
    echo(f"链头哈希 / head hash: {doc['head_hash']}")
    echo(f"检查点 / checkpoint: {doc.get('path', '-')}")
    if conflict := doc.get("conflict"):
        typer.echo(f"审计链与已有检查点不一致 / the chain differs from the checkpoint already at seq {doc['seq']} "
                   f"({conflict}, kept): run `xinyong audit verify` and see operations.md, "
                   "\"When verification fails\"", err=True)
        raise typer.Exit(1)


@app.command("verify")
def verify(
    checkpoint: Annotated[Path | None, typer.Option(
        "--checkpoint", help="签名检查点文件或其目录；默认为检查点目录中的全部 / a signed checkpoint file, or a "
                             "directory of them (default: all in XINYONG_CHECKPOINT_DIR)")] = None,
) -> None:
    """校验审计链：完整时退出码 0，否则 1 / verify the chain: exit 0 if intact, else 1 naming the problem."""
    from xinyong.audit import service
    from xinyong.cli import database, echo, load_ring, settings

    cfg = settings()
    ring = load_ring(cfg)
    # Every checkpoint in the directory, not only the newest: a tail cut off and grown again since
    # contradicts the older ones (``service.verify``).
    source = checkpoint if checkpoint is not None else cfg.checkpoint_dir
    paths = service.checkpoint_files(source) if source.is_dir() or checkpoint is None else [source]
    docs = [service.load_checkpoint(p, ring=ring) for p in paths]
    # Any schema revision will do: verifying must work on a restored backup without upgrading it.
    with database(cfg, require_head=False) as db, db.session(write=False) as s:
        result = service.verify(s, checkpoints=docs)
    if docs:
        path, doc = paths[-1], docs[-1]
        more = f"；共 {len(docs)} 个 / {len(docs)} checkpoints, all" if len(docs) > 1 else ""
        echo(f"检查点 / checkpoint: {path} (seq {doc['seq']}, {doc['created_at']}){more}, "
             "签名有效 / signature valid")
    else:
        echo(f"注意：{source} 中没有检查点，无法发现尾部被截断 / note: no checkpoint in "
             f"{source}, so a truncated tail cannot be detected (run `xinyong audit seal`)")
    if result.ok:
        echo(result.message)
        echo(f"链头哈希 / head hash: {result.head_hash}")
        if result.pending:
            echo(f"待封存 / pending (not yet sealed): {result.pending}")
        for note in result.notes[:5]:
            echo(f"  {note}")
        return
    where = f" seq={result.seq}" if result.seq is not None else ""
    entry = f" id={result.entry_id}" if result.entry_id is not None else ""
    typer.echo(f"审计链不完整 / audit chain NOT intact: {result.problem}{where}{entry}", err=True)
    typer.echo(result.message, err=True)
    raise typer.Exit(1)
