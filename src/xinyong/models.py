"""Imports every domain's models so that ``Base.metadata`` is complete (migrations, tests)."""

from xinyong.audit import models as audit_models  # noqa: F401
from xinyong.auth import models as auth_models  # noqa: F401
from xinyong.db import Base
from xinyong.subjects import models as subject_models  # noqa: F401

metadata = Base.metadata
