"""A local emulator of the CometChat REST API v3: a real HTTP server in its own process, on loopback.

from sources.cometchat_emulator import Emulator, EmulatorConfig

with Emulator(EmulatorConfig(seed=7, messages=2000)) as emu:
    emu.base_url, emu.app_id, emu.api_key, emu.admin_url
    emu.ground_truth()
"""

from .config import FAULT_KINDS, EmulatorConfig
from .process import Emulator, EmulatorError

__all__ = ["FAULT_KINDS", "Emulator", "EmulatorConfig", "EmulatorError"]
