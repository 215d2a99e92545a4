"""Know the room: a clean plate of the empty scene (captured, loaded, or learned) as a matte cue."""

from .cue import RoomCue, RoomStatus
from .learn import learn_plate
from .plate import Plate, RoomError, capture_plate, read_plate_file
from .store import camera_key, forget_plate, load_plate, save_plate

__all__ = ["Plate", "RoomCue", "RoomError", "RoomStatus", "camera_key", "capture_plate", "forget_plate", "learn_plate",
           "load_plate", "read_plate_file", "save_plate"]
