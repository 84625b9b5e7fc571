"""make workshop: the offline installer never reaches for an index (the full install is `make workshop-check`)."""
from tools import workshop


def test_install_script_is_offline_and_pinned():
    script = workshop.INSTALL_SH
    assert "--no-index" in script and "--find-links" in script
    assert '-c "$target/constraints.txt"' in script
    assert "pip download" not in script and "http" not in script


def test_check_switches_pip_config_off(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(workshop, "_run", lambda cmd, **kw: calls.append((cmd, kw)))
    workshop.check(tmp_path)
    install_env = calls[0][1]["env"]
    assert install_env["PIP_NO_INDEX"] == "1" and install_env["PIP_CONFIG_FILE"]
    assert install_env["HF_HUB_OFFLINE"] == "1"
