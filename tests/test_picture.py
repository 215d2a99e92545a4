"""`process` on a still: a picture in, a picture out, through the real model, matte and compositor."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from personseg_live.offline import InputError, ProcessOptions, expand_inputs, output_for, parse_background, process_video
from personseg_live.video import OutputError

GREEN = (0x40, 0xB1, 0x00)  # BGR of color:#00B140


@pytest.fixture(scope="module")
def photo(people_dir):
    """A real person photo (CCP, 212x320) and its true mask."""
    image = people_dir / "images" / "ccp_0050.jpg"
    mask = cv2.imread(str(people_dir / "masks" / "ccp_0050.png"), cv2.IMREAD_GRAYSCALE) > 127
    return image, mask


def _inside(mask: np.ndarray, px: int) -> np.ndarray:
    return cv2.erode(mask.view(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).view(bool)


def test_a_photo_over_a_colour_keeps_the_person_and_paints_the_rest(photo, tmp_path, segmenter):
    image, mask = photo
    out = tmp_path / "cut.png"
    report = process_video(image, out, ProcessOptions(background=parse_background("color:#00B140"), mask_out=tmp_path / "m"),
                           segmenter=segmenter, progress=False)
    assert report.frames == 1 and out.is_file() and not list(tmp_path.glob(".*partial*"))
    result, source = cv2.imread(str(out)), cv2.imread(str(image))
    assert result.shape == source.shape
    person, room = _inside(mask, 6), _inside(~mask, 6)
    assert np.abs(result[person].astype(int) - source[person]).mean() < 8  # the person as photographed
    assert np.abs(result[room].astype(int) - GREEN).mean() < 20  # the room painted over
    alpha = cv2.imread(str(tmp_path / "m" / "00000.png"), cv2.IMREAD_UNCHANGED)
    assert alpha.dtype == np.uint8 and alpha.shape == mask.shape
    assert alpha[person].mean() > 230 and alpha[room].mean() < 25


def test_a_transparent_cut_out_keeps_its_alpha_and_jpeg_is_refused(photo, tmp_path, segmenter):
    image, mask = photo
    options = ProcessOptions(background=parse_background("transparent"))
    process_video(image, tmp_path / "cut.webp", options, segmenter=segmenter, progress=False)
    rgba = cv2.imread(str(tmp_path / "cut.webp"), cv2.IMREAD_UNCHANGED)
    assert rgba.shape[2] == 4
    assert rgba[..., 3][_inside(mask, 6)].mean() > 230 and rgba[..., 3][_inside(~mask, 6)].mean() < 25
    with pytest.raises(OutputError, match="has no transparency"):
        process_video(image, tmp_path / "cut.jpg", options, segmenter=segmenter, progress=False)
    assert not (tmp_path / "cut.jpg").exists()


def test_a_photo_turned_by_its_exif_tag_comes_out_as_viewers_show_it(photo, tmp_path, segmenter):
    from PIL import Image

    image, _ = photo
    upright = cv2.imread(str(image))
    # Stored lying on its side with orientation 6 ("turn 90 degrees clockwise to view"), as phones save.
    stored = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(cv2.cvtColor(stored, cv2.COLOR_BGR2RGB)).save(tmp_path / "phone.jpg", quality=98, exif=exif)
    options = ProcessOptions(background=parse_background("transparent"))
    process_video(tmp_path / "phone.jpg", tmp_path / "phone.png", options, segmenter=segmenter, progress=False)
    process_video(image, tmp_path / "plain.png", options, segmenter=segmenter, progress=False)
    turned, plain = (cv2.imread(str(tmp_path / n), cv2.IMREAD_UNCHANGED)[..., 3] for n in ("phone.png", "plain.png"))
    assert turned.shape == plain.shape == upright.shape[:2]
    assert np.mean(np.abs(turned.astype(int) - plain) > 127) < 0.02  # the same cut-out, standing up


def test_bad_pictures_and_mismatched_outputs_are_one_line_errors(photo, tmp_path, segmenter, demo_clip):
    image, _ = photo
    with pytest.raises(InputError, match="input not found"):
        process_video(tmp_path / "missing.jpg", tmp_path / "o.png", ProcessOptions(), segmenter=segmenter, progress=False)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(InputError, match="not a picture OpenCV can decode"):
        process_video(broken, tmp_path / "o.png", ProcessOptions(), segmenter=segmenter, progress=False)
    with pytest.raises(OutputError, match="a picture output takes a picture input"):
        process_video(demo_clip, tmp_path / "o.png", ProcessOptions(), segmenter=segmenter, progress=False)
    with pytest.raises(InputError, match="learns the room from a video"):
        process_video(image, tmp_path / "o.png", ProcessOptions(learn_room=True), segmenter=segmenter, progress=False)
    (tmp_path / "taken.png").write_bytes(b"keep me")
    with pytest.raises(OutputError, match="already exists"):
        process_video(image, tmp_path / "taken.png", ProcessOptions(overwrite=False), segmenter=segmenter, progress=False)
    assert (tmp_path / "taken.png").read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.jpg", "taken.png"]


def test_a_folder_of_videos_and_pictures_gives_each_its_own_kind_of_output(tmp_path, people_dir):
    from videos import write_video

    folder = tmp_path / "in"
    folder.mkdir()
    write_video(folder / "talk.mp4", frames=2)
    (folder / "me.jpg").write_bytes((people_dir / "images" / "ccp_0050.jpg").read_bytes())
    (folder / "notes.txt").write_text("not media")
    assert [p.name for p in expand_inputs(str(folder))] == ["me.jpg", "talk.mp4"]
    out = tmp_path / "out"
    assert output_for(folder / "me.jpg", out, transparent=False) == out / "me.jpg"
    assert output_for(folder / "me.jpg", out, transparent=True) == out / "me.png"  # JPEG has no alpha
    assert output_for(folder / "talk.mp4", out, transparent=True) == out / "talk.webm"


def test_cli_process_writes_a_picture(photo, tmp_path, capsys):
    from personseg_live.cli import main

    image, _ = photo
    assert main(["process", str(image), str(tmp_path / "cut.jpg"), "--background", "blur"]) == 0
    assert "cut.jpg: written" in capsys.readouterr().err
    assert cv2.imread(str(tmp_path / "cut.jpg")).shape == cv2.imread(str(image)).shape
    assert main(["process", str(image), str(tmp_path / "cut.jpg")]) == 1  # exists: -y to replace
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_our_mark_leaves_the_picture_as_it_was_and_readers_see_it(tmp_path, suffix):
    """The mark that lets -y replace our results (ours.py) is a well-formed PNG tEXt chunk / JPEG comment: OpenCV
    decodes the same pixels, Pillow (a strict reader) finds the text, and an unmarked picture is not ours."""
    from PIL import Image

    from personseg_live.ours import WRITTEN_BY, is_ours, marked_picture

    picture = np.random.default_rng(0).integers(0, 255, (40, 56, 3), np.uint8)
    path = tmp_path / f"p{suffix}"
    cv2.imwrite(str(path), picture)
    before = cv2.imread(str(path))
    assert is_ours(path) is False
    path.write_bytes(marked_picture(path.read_bytes()))
    assert is_ours(path) is True and np.array_equal(cv2.imread(str(path)), before)
    with Image.open(path) as im:
        im.load()
        text = im.info.get("Comment") if suffix == ".png" else im.info.get("comment", b"").decode()
    assert text == WRITTEN_BY


def test_a_picture_gets_the_high_quality_unless_told_and_a_video_the_live_one(tmp_path, people_dir):
    """One still costs milliseconds, so `process` gives a picture ``--quality high`` (photos +0.7 IoU points, the
    model card) unless ``--quality`` says otherwise; a video keeps the live looks (its speed)."""
    from personseg_live.cli import _default_quality, main

    image = people_dir / "images" / "ccp_0300.jpg"  # a person standing whole: high's pose look changes the answer
    masks = {}
    for name, flags in (("default", []), ("high", ["--quality", "high"]), ("live", ["--quality", "live"])):
        assert main(["process", str(image), str(tmp_path / f"{name}.png"), "--mask-out", str(tmp_path / name), "--quiet", *flags]) == 0
        masks[name] = cv2.imread(str(tmp_path / name / "00000.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(masks["default"], masks["high"])
    assert np.mean(np.abs(masks["default"].astype(int) - masks["live"]) > 127) > 0.01
    live = ProcessOptions()
    assert _default_quality(tmp_path / "talk.mp4", live) is live and _default_quality(image, live).quality == "high"
