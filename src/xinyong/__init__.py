"""xinyong (信用): personal public credit information sharing and service platform."""

__version__ = "0.1.0"
