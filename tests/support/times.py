"""Find clock times a person would read without knowing which clock: no zone offset beside them."""

import re

# 18:08 or 18:08:03 not followed by an offset (+07, -03, +05:30). Times of day written in a
# schedule ("from 22:00", "(on 18:00, off 02:00)") are the config's own words, not clock
# readings, so they are let through.
UNLABELLED = re.compile(r"(?<!from )(?<!off )(?<!on )(?<![\d:+-])\d{1,2}:\d{2}(?::\d{2})?(?![\d:])"
                        r"(?! [+-]\d{2})")
TAG = re.compile(r"<[^>]+>")


def unlabelled_times(text: str) -> list[str]:
    """Every time in text (tags stripped) that has no offset beside it."""
    plain = TAG.sub(" ", text)
    return [plain[max(0, m.start() - 30):m.end() + 10] for m in UNLABELLED.finditer(plain)]
