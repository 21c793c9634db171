"""The 18 key occupational groups (重点人群) named by the plan (seed §二(二)2)."""

from __future__ import annotations

KEY_GROUPS: dict[str, tuple[str, str]] = {
    "civil_servant": ("公务员", "Civil servant"),
    "legal_representative": ("企业法定代表人及相关责任人", "Legal representative or responsible person of an enterprise"),
    "lawyer": ("律师", "Lawyer"),
    "teacher": ("教师", "Teacher"),
    "physician": ("执业医师", "Licensed physician"),
    "pharmacist": ("执业药师", "Licensed pharmacist"),
    "tax_agent": ("税务师", "Certified tax agent"),
    "eia_engineer": ("环境影响评价工程师", "Environmental impact assessment engineer"),
    "accountant_auditor": ("会计审计人员", "Accountant or auditor"),
    "construction_registered": ("住房城乡建设执业资格注册人员", "Registered construction professional"),
    "asset_appraiser": ("资产评估人员", "Asset appraiser"),
    "real_estate_agent": ("房地产中介从业人员", "Real-estate agent"),
    "certification_staff": ("认证人员", "Certification staff"),
    "researcher": ("科研人员", "Researcher"),
    "insurance_broker": ("保险经纪人", "Insurance broker"),
    "finance_staff": ("金融从业人员", "Financial-sector employee"),
    "statistics_staff": ("统计从业人员", "Statistics staff"),
    "journalist": ("新闻媒体从业人员", "News-media professional"),
}
