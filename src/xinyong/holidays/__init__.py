"""The holiday table an administrator maintains (节假日安排): China's official calendar beyond, or
corrected from, the ``chinesecalendar`` library. Working days are counted by ``xinyong.workdays``."""
