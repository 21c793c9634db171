"""A small message catalog: Chinese first, English available.

The language comes from the ``lang`` cookie (``zh`` by default); ``GET /lang?to=en&next=/path``
switches it. Pages call ``t("key")`` in templates; a missing English text falls back to Chinese,
a missing key shows the key itself (visible in review, never an error).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
LANG_COOKIE = "lang"

Translator = Callable[..., str]

MESSAGES: dict[str, dict[str, str]] = {
    # ---- shell ------------------------------------------------------------------------
    "app.name": {"zh": "和平区个人公共信用信息共享服务平台",
                 "en": "Heping District Personal Public Credit Information Sharing Platform"},
    "app.footer": {"zh": "和平区社会信用体系建设领导小组办公室",
                   "en": "Heping District Social Credit Office"},
    "nav.main": {"zh": "主导航", "en": "Main navigation"},
    "nav.home": {"zh": "首页", "en": "Home"},
    "nav.departments": {"zh": "部门管理", "en": "Departments"},
    "nav.users": {"zh": "用户管理", "en": "Users"},
    "nav.apikeys": {"zh": "API 密钥", "en": "API keys"},
    "nav.workspace_keys": {"zh": "本部门密钥", "en": "Department keys"},
    "nav.audit": {"zh": "审计日志", "en": "Audit log"},
    "nav.login": {"zh": "登录", "en": "Sign in"},
    "nav.logout": {"zh": "退出登录", "en": "Sign out"},
    "nav.language": {"zh": "语言", "en": "Language"},
    "lang.zh": {"zh": "中文", "en": "中文"},
    "lang.en": {"zh": "English", "en": "English"},
    # ---- roles and kinds ----------------------------------------------------------------
    "role.admin": {"zh": "系统管理员", "en": "Administrator"},
    "role.officer": {"zh": "部门工作人员", "en": "Department officer"},
    "role.institution": {"zh": "机构用户", "en": "Institution user"},
    "role.citizen": {"zh": "公民", "en": "Citizen"},
    "role.auditor": {"zh": "审计员", "en": "Auditor"},
    "role.system": {"zh": "部门业务系统", "en": "Department system"},
    "kind.department": {"zh": "政府部门", "en": "Government department"},
    "kind.institution": {"zh": "机构", "en": "Institution"},
    "gender.M": {"zh": "男", "en": "Male"},
    "gender.F": {"zh": "女", "en": "Female"},
    # ---- common words -------------------------------------------------------------------
    "common.actions": {"zh": "操作", "en": "Actions"},
    "common.status": {"zh": "状态", "en": "Status"},
    "common.active": {"zh": "启用", "en": "Active"},
    "common.inactive": {"zh": "已停用", "en": "Disabled"},
    "common.enable": {"zh": "启用", "en": "Enable"},
    "common.disable": {"zh": "停用", "en": "Disable"},
    "common.add": {"zh": "添加", "en": "Add"},
    "common.create": {"zh": "创建", "en": "Create"},
    "common.never": {"zh": "从未", "en": "Never"},
    "common.none": {"zh": "无", "en": "None"},
    "common.empty": {"zh": "暂无记录", "en": "Nothing yet"},
    "common.optional": {"zh": "可选", "en": "optional"},
    "common.back": {"zh": "返回", "en": "Back"},
    "common.created_at": {"zh": "创建时间", "en": "Created"},
    "common.form_error": {"zh": "未能保存", "en": "Not saved"},
    # ---- login --------------------------------------------------------------------------
    "login.title": {"zh": "用户登录", "en": "Sign in"},
    "login.username": {"zh": "用户名", "en": "Username"},
    "login.password": {"zh": "密码", "en": "Password"},
    "login.submit": {"zh": "登录", "en": "Sign in"},
    "login.failed": {"zh": "用户名或密码错误；连续多次失败后账户将被暂时锁定，请稍后再试。",
                     "en": "Wrong username or password. Repeated failures lock the account for a while."},
    "login.disabled": {"zh": "该账户已停用，请联系系统管理员。",
                       "en": "This account is disabled; please contact the administrator."},
    "login.signed_in_as": {"zh": "当前已登录为", "en": "Currently signed in as"},
    "login.notice": {"zh": "本平台处理个人信用信息，所有操作均记录审计日志。",
                     "en": "This platform handles personal credit information; every action is audited."},
    # ---- home ---------------------------------------------------------------------------
    "home.title": {"zh": "工作台", "en": "Dashboard"},
    "home.welcome": {"zh": "欢迎", "en": "Welcome"},
    "home.admin.intro": {"zh": "管理部门、用户与部门业务系统的 API 密钥，查阅审计日志。",
                         "en": "Manage departments, users and department systems' API keys; "
                               "read the audit log."},
    "home.admin.departments": {"zh": "添加或查看政府部门与机构",
                               "en": "Add or view departments and institutions"},
    "home.admin.users": {"zh": "添加用户、停用或启用账户", "en": "Add users; disable or enable accounts"},
    "home.admin.apikeys": {"zh": "为部门业务系统签发或吊销密钥",
                           "en": "Issue or revoke keys for department systems"},
    "home.audit": {"zh": "查阅哈希链审计日志", "en": "Read the hash-chained audit log"},
    "home.officer.department": {"zh": "所属部门", "en": "Your department"},
    "home.officer.keys": {"zh": "本部门 API 密钥", "en": "Your department's API keys"},
    "home.officer.active_keys": {"zh": "有效密钥数", "en": "Active keys"},
    "home.officer.manage_keys": {"zh": "管理本部门密钥", "en": "Manage department keys"},
    "home.no_department": {"zh": "您的账户尚未关联部门，请联系系统管理员。",
                           "en": "Your account has no department yet; please contact the administrator."},
    "home.institution.org": {"zh": "所属机构", "en": "Your institution"},
    "home.institution.intro": {"zh": "经信息主体本人授权后，可在此查询其信用报告。",
                               "en": "With a person's own authorization you can query their credit "
                                     "report here."},
    "home.citizen.identity": {"zh": "我的身份信息", "en": "My identity"},
    "home.citizen.masked": {"zh": "为保护个人信息，证件号码与姓名已部分隐藏。",
                            "en": "To protect personal information, the ID number and name are "
                                  "partly hidden."},
    "home.citizen.missing": {"zh": "未找到与账户绑定的信用主体。",
                             "en": "No credit subject is bound to this account."},
    "home.auditor.intro": {"zh": "审计员可查阅全部操作记录并验证审计链的完整性。",
                           "en": "Auditors read every recorded action and verify the audit chain."},
    "home.system": {"zh": "部门业务系统请使用 API 接口。", "en": "Department systems use the API."},
    "field.name": {"zh": "姓名", "en": "Name"},
    "field.id_number": {"zh": "身份证号码", "en": "ID number"},
    "field.gender": {"zh": "性别", "en": "Gender"},
    "field.region": {"zh": "户籍地区代码", "en": "Region code"},
    # ---- departments ---------------------------------------------------------------------
    "dept.title": {"zh": "部门管理", "en": "Departments"},
    "dept.add": {"zh": "添加部门或机构", "en": "Add a department or institution"},
    "dept.code": {"zh": "代码", "en": "Code"},
    "dept.code_hint": {"zh": "字母、数字、- 或 _，2至32位", "en": "2-32 letters, digits, '-' or '_'"},
    "dept.name": {"zh": "名称", "en": "Name"},
    "dept.name_en": {"zh": "英文名称", "en": "English name"},
    "dept.kind": {"zh": "类型", "en": "Kind"},
    # ---- users ---------------------------------------------------------------------------
    "user.title": {"zh": "用户管理", "en": "Users"},
    "user.add": {"zh": "添加用户", "en": "Add a user"},
    "user.username": {"zh": "用户名", "en": "Username"},
    "user.password": {"zh": "初始密码", "en": "Initial password"},
    "user.password_hint": {"zh": "至少10个字符", "en": "at least 10 characters"},
    "user.role": {"zh": "角色", "en": "Role"},
    "user.department": {"zh": "所属部门或机构", "en": "Department or institution"},
    "user.display_name": {"zh": "显示名称", "en": "Display name"},
    "user.id_number_hint": {"zh": "仅公民账户需要；提交后不会在页面上显示",
                            "en": "citizen accounts only; never shown back on any page"},
    "user.last_login": {"zh": "最近登录", "en": "Last sign-in"},
    "user.confirm_disable": {"zh": "停用后该用户的所有会话立即失效，确定停用？",
                             "en": "Disabling ends all of this user's sessions at once. Continue?"},
    "user.self": {"zh": "当前账户", "en": "you"},
    # ---- API keys ------------------------------------------------------------------------
    "key.title": {"zh": "API 密钥", "en": "API keys"},
    "key.workspace_title": {"zh": "本部门 API 密钥", "en": "Department API keys"},
    "key.intro": {"zh": "部门业务系统以 Authorization: Bearer <密钥> 调用接口。平台只保存密钥摘要。",
                  "en": "Department systems call the API with Authorization: Bearer <key>. "
                        "Only a digest of each key is stored."},
    "key.add": {"zh": "创建密钥", "en": "Create a key"},
    "key.name": {"zh": "名称", "en": "Name"},
    "key.name_hint": {"zh": "例如调用该密钥的业务系统名称", "en": "e.g. the calling system's name"},
    "key.prefix": {"zh": "前缀", "en": "Prefix"},
    "key.department": {"zh": "部门", "en": "Department"},
    "key.created_by": {"zh": "创建人", "en": "Created by"},
    "key.last_used": {"zh": "最近使用", "en": "Last used"},
    "key.revoked": {"zh": "已吊销", "en": "Revoked"},
    "key.active": {"zh": "有效", "en": "Active"},
    "key.revoke": {"zh": "吊销", "en": "Revoke"},
    "key.confirm_revoke": {"zh": "吊销后使用该密钥的系统将立即无法调用接口，确定吊销？",
                           "en": "Systems using this key lose access at once. Revoke it?"},
    "key.created_title": {"zh": "密钥已创建", "en": "Key created"},
    "key.shown_once": {"zh": "请立即复制并妥善保存此密钥：它只显示这一次，平台不保存明文，"
                              "离开本页后无法再次查看。",
                       "en": "Copy and store this key now: it is shown only once. The platform keeps no "
                             "plaintext copy, and it cannot be shown again after you leave this page."},
    "key.secret": {"zh": "密钥", "en": "Key"},
    "key.back_to_list": {"zh": "返回密钥列表", "en": "Back to the key list"},
    # ---- errors --------------------------------------------------------------------------
    "error.400": {"zh": "请求有误", "en": "Bad request"},
    "error.401": {"zh": "需要登录", "en": "Sign-in required"},
    "error.403": {"zh": "无权访问", "en": "Forbidden"},
    "error.404": {"zh": "页面不存在", "en": "Page not found"},
    "error.405": {"zh": "不支持的请求方法", "en": "Method not allowed"},
    "error.409": {"zh": "冲突", "en": "Conflict"},
    "error.413": {"zh": "请求内容过大", "en": "Request too large"},
    "error.422": {"zh": "提交的内容有误", "en": "Some input was not valid"},
    "error.429": {"zh": "请求过于频繁", "en": "Too many requests"},
    "error.500": {"zh": "服务器内部错误", "en": "Internal error"},
    "error.503": {"zh": "服务暂不可用", "en": "Service unavailable"},
    "error.other": {"zh": "出错了", "en": "Something went wrong"},
    "error.hint.403": {"zh": "您的账户没有执行此操作的权限；如有需要请联系系统管理员。",
                       "en": "Your account may not do this; contact the administrator if you need access."},
    "error.hint.404": {"zh": "您访问的页面或对象不存在，或您无权查看。",
                       "en": "The page or object does not exist, or you may not see it."},
    "error.hint.422": {"zh": "请根据下列说明修改后重新提交。",
                       "en": "Please correct the following and retry."},
    "error.hint.500": {"zh": "请稍后重试；如问题持续，请将请求编号提供给系统管理员。",
                       "en": "Please retry later; if it persists, quote the request id to the "
                             "administrator."},
    "error.hint.503": {"zh": "系统正在恢复，请稍后重试。",
                       "en": "The system is recovering; please retry shortly."},
    "error.request_id": {"zh": "请求编号", "en": "Request id"},
    "error.field": {"zh": "字段", "en": "Field"},
    "error.home": {"zh": "返回首页", "en": "Back to the home page"},
}


def lang_of(request: Request) -> str:
    value = request.cookies.get(LANG_COOKIE, DEFAULT_LANG)
    return value if value in LANGS else DEFAULT_LANG


def translate(lang: str, key: str, **params: Any) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry[DEFAULT_LANG]
    return text.format(**params) if params else text


def translator(lang: str) -> Translator:
    def t(key: str, **params: Any) -> str:
        return translate(lang, key, **params)

    return t
