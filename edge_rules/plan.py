"""A group's timetable: its calendar or schedule, photocell and dimming profile, decided at one instant."""

from edge_rules.schedule import Latch, photocell_state


class GroupPlan:
    """What the timetable wants for one group; holds only the photocell latch as state."""

    def __init__(self, group: str, schedules: dict, calendar=None, schedule=None, dimming=None,
                 profiles=None):
        self.group = group
        self.schedules = schedules
        self.profiles = profiles or {}      # dimming profiles a calendar entry may name
        self.calendar = calendar
        self.schedule = schedule
        self.dimming = dimming
        self.latch = Latch()

    def _pick(self, day: int) -> tuple:
        """(schedule, dimming profile or None, why) of the night starting on a local day."""
        if self.calendar is not None:
            name, dimming, why = self.calendar.entry(day)
            return self.schedules[name], self.profiles.get(dimming, self.dimming), why
        return self.schedule, self.dimming, "schedule"

    def _nights(self, sky, now_s: int) -> list:
        """[(day, schedule, dimming, why, (on, off))] of the lit periods that started yesterday or today."""
        today = sky.local_day(now_s)
        found = []
        for day in (today - 1, today):
            sched, dimming, why = self._pick(day)
            night = sched.night(sky, day)
            if night is not None:
                found.append((day, sched, dimming, why, night))
        return found

    def decide(self, sky, now_s: int, points: dict) -> tuple:
        """(switch, dim or None, reason) from the timetable at now_s."""
        nights = self._nights(sky, now_s)
        for day, sched, dimming, why, night in nights:
            if sched.photocell is not None:
                lux = points.get(sched.photocell.point)
                blended = photocell_state(sched.photocell, night, now_s, lux, self.latch)
                if blended is not None:
                    return self._result(sky, blended[0], day, night, now_s, dimming, "%s %s; %s" % (
                        why, sched.name, blended[1]))
        for day, sched, dimming, why, night in nights:
            if night[0] <= now_s < night[1]:
                return self._result(sky, True, day, night, now_s, dimming,
                                    "%s %s (%s)" % (why, sched.name, sched.describe()))
        return False, None, "off by schedule"

    def _result(self, sky, on: bool, day: int, night: tuple, now_s: int, dimming, reason: str) -> tuple:
        if not on:
            return False, None, reason
        if dimming is None:
            return True, None, reason
        level, why = dimming.level(sky, night, day, now_s)
        return True, level, reason + "; " + why
