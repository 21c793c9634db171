"""Imports every domain's models so that ``Base.metadata`` is complete (migrations, tests)."""

from xinyong.audit import models as audit_models  # noqa: F401
from xinyong.auth import models as auth_models  # noqa: F401
from xinyong.catalog import models as catalog_models  # noqa: F401
from xinyong.db import Base
from xinyong.holidays import models as holiday_models  # noqa: F401
from xinyong.imports import models as imports_models  # noqa: F401
from xinyong.lists import models as lists_models  # noqa: F401
from xinyong.measures import models as measures_models  # noqa: F401
from xinyong.records import models as records_models  # noqa: F401
from xinyong.scoring import models as scoring_models  # noqa: F401
from xinyong.subjects import models as subject_models  # noqa: F401

metadata = Base.metadata
