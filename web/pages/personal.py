"""A signed-in person's own settings ("Your settings"): the time zone their pages show times in.

Anyone signed in may use it, customers included. Choosing nothing goes back to the unit's zone (else UTC).
The API does the same at ``/api/v1/me/time-zone`` (web/api/me.py).
"""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine.errors import InvalidInput
from engine.usecases.users import ZoneSetting, time_zone_names
from web.auth import directory
from web.pages.views import me, pages, runtime, signed_in

ZONE_FIELD = "time_zone"


def settings_page(setting: ZoneSetting, chosen: str, error: str | None = None, status: int = 200
                  ) -> tuple[str, int]:
    """The form with ``chosen`` selected ("" is the unit's zone); a refused choice stays selected beside ``error``."""
    zones = time_zone_names()
    return render_template("settings.html", setting=setting, zones=zones, chosen=chosen,
                           chosen_is_unknown=bool(chosen) and chosen not in zones, error=error,
                           has_unit=me().unit is not None, now=runtime().clock()), status


@pages.get("/me/settings")
@signed_in
def my_settings() -> tuple[str, int]:
    setting = directory().zone_setting(me().name)
    return settings_page(setting, setting.own or "")


@pages.post("/me/settings")
@signed_in
def my_settings_submit() -> Response | tuple[str, int]:
    chosen = request.form.get(ZONE_FIELD, "").strip()
    try:
        directory().set_time_zone(me().name, chosen or None)
    except InvalidInput:
        setting = directory().zone_setting(me().name)
        return settings_page(setting, chosen, f"“{chosen[:100]}” is not a time zone we know. Pick one from the "
                                              "list; your times are still shown in "
                                              f"{setting.effective}.", 422)
    setting = directory().zone_setting(me().name)
    whose = "" if setting.own else (" (your unit's zone)" if me().unit is not None else " (the default)")
    flash(f"Times are now shown in {setting.effective}{whose}.")
    return redirect(url_for("pages.my_settings"))
