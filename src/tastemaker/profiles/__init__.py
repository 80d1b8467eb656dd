"""Real-time customer profiles, segment rules and the personalized featured listing."""

from tastemaker.profiles.model import Profile, TimelineEvent
from tastemaker.profiles.rules import SegmentRules, parse_rules
from tastemaker.profiles.service import ProfileService

__all__ = ["Profile", "ProfileService", "SegmentRules", "TimelineEvent", "parse_rules"]
