"""The catalog (目录) of personal public credit information items, as versioned data."""
