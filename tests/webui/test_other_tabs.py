"""The Clone, Voices, History and Settings tabs, and the app at a phone's width, in headless Chromium
(tiny models, served as bark_webui.py serves them)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import soundfile as sf
import torch

from core.engine import EngineSettings
from core.fields import described
from core.options import GenerationOptions
from core.outputs import delete_output, list_outputs, write_outputs

from .conftest import CHROMIUM, LAPTOP, PHONE, Served
from .helpers import voice_clip

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")


def box(page, selector: str) -> dict:
    """The bounding box (x, y, width, height, in CSS pixels of the page) of the first match."""
    return page.locator(selector).first.bounding_box()


# At a phone's width


def test_at_a_phones_width_every_tab_is_one_tap_away(open_page):
    page = open_page(PHONE)
    for name in ["Generate", "Clone", "Voices", "History", "Settings"]:
        tab = page.get_by_role("tab", name=name)
        assert tab.is_visible(), f"the {name} tab is hidden (behind the overflow menu?)"
        tab.click()
        playwright.expect(tab).to_have_attribute("aria-selected", "true")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing sideways


def test_at_a_phones_width_generate_sits_under_the_text_box(open_page):
    page = open_page(PHONE)
    text, button = box(page, "#text textarea"), box(page, "#generate")
    assert 0 <= button["y"] - (text["y"] + text["height"]) < 100
    assert button["y"] + button["height"] <= PHONE["height"]  # on the first screen, no scrolling
    status, live, voice = box(page, "#status"), box(page, "#live"), box(page, "#voice")
    assert button["y"] < status["y"] < live["y"] < voice["y"]  # what happens shows where the button is


def test_on_a_desktop_generate_stays_below_both_columns(open_page):
    page = open_page(LAPTOP)
    text, voice, button = box(page, "#text"), box(page, "#voice"), box(page, "#generate")
    assert voice["x"] > text["x"] + text["width"] - 1  # two columns side by side
    assert button["y"] > voice["y"] + voice["height"]


# Voices


def add_voice(served: Served, name: str, preset: str = "v2/en_speaker_1") -> None:
    served.engine.library.save(name, served.engine.resolve_voice(preset)[0])


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def pick_voice(page, name: str) -> None:
    """Click the voice's row in the Voices table; the new-name box starts from its name."""
    page.locator("#voices-table").get_by_text(name, exact=True).filter(visible=True).first.click()
    playwright.expect(page.locator("#voices-picker input")).to_have_value(name)
    playwright.expect(page.locator("#voices-new-name textarea")).to_have_value(name)


def test_an_empty_library_says_how_to_get_voices(served, open_page, tmp_path):
    for info in served.engine.library.list():
        served.engine.library.delete(info.name)
    page = open_page()
    open_tab(page, "Voices")
    empty = page.locator("#voices-empty")
    playwright.expect(empty).to_contain_text("No voices of your own yet")
    prompt = served.engine.resolve_voice("v2/en_speaker_4")[0].save(tmp_path / "Newcomer.npz")
    page.get_by_text("Import a voice (.npz)").click()
    page.locator("#voices-import input[type=file]").set_input_files(str(prompt))
    page.get_by_role("button", name="Import", exact=True).click()
    page.locator("#voices-import-message").get_by_text("Imported Newcomer.").wait_for()
    playwright.expect(empty).to_be_hidden()
    page.locator("#voices-table").get_by_text("Newcomer", exact=True).filter(visible=True).first.wait_for()


def test_deleting_a_voice_clears_what_showed_it(served, open_page):
    add_voice(served, "Doomed")
    page = open_page()
    open_tab(page, "Voices")
    pick_voice(page, "Doomed")
    new_name = page.locator("#voices-new-name textarea")
    page.locator("#voices-play").click()
    page.locator("#voices-preview audio, #voices-preview [data-testid='waveform-Audio']").first.wait_for(
        state="attached"
    )
    page.locator("#voices-export-button").click()
    page.locator("#voices-export a[download='Doomed.npz']").wait_for()

    page.locator("#voices-delete").click()
    page.get_by_text("Delete Doomed from your voices?").wait_for()
    page.get_by_role("button", name="Yes, delete it").click()
    message = page.locator("#voices-message")
    message.get_by_text("Deleted Doomed.").wait_for()
    playwright.expect(page.locator("#voices-preview")).to_be_hidden()
    playwright.expect(page.locator("#voices-export")).to_be_hidden()
    playwright.expect(new_name).to_have_value("")
    playwright.expect(page.locator("#voices-picker input")).to_have_value("")
    assert not served.engine.library.exists("Doomed")
    # The result shows under the row of buttons that made it, not below the import section.
    assert 0 <= box(page, "#voices-message")["y"] - bottom(page, "#voices-new-name") < 40


def bottom(page, selector: str) -> float:
    b = box(page, selector)
    return b["y"] + b["height"]


def test_picking_another_voice_closes_the_question_about_the_first(served, open_page):
    add_voice(served, "Keep A")
    add_voice(served, "Keep B")
    page = open_page()
    open_tab(page, "Voices")
    pick_voice(page, "Keep A")
    page.locator("#voices-delete").click()
    page.get_by_text("Delete Keep A from your voices?").wait_for()
    pick_voice(page, "Keep B")  # "Yes, delete it" would now delete Keep B under a question about Keep A
    playwright.expect(page.get_by_role("button", name="Yes, delete it")).to_be_hidden()


def test_renaming_onto_a_taken_name_says_what_to_do(served, open_page):
    add_voice(served, "Taken 1")
    add_voice(served, "Taken 2")
    page = open_page()
    open_tab(page, "Voices")
    pick_voice(page, "Taken 1")
    page.locator("#voices-new-name textarea").fill("Taken 2")
    page.locator("#voices-rename").click()
    error = page.get_by_text("'Taken 2' is already in your voice library")
    error.wait_for()
    assert "overwrit" not in error.inner_text()
    page.locator("#voices-new-name textarea").fill("Taken 3")
    page.locator("#voices-rename").click()
    page.locator("#voices-message").get_by_text("Renamed Taken 1 to Taken 3.").wait_for()
    assert 0 <= box(page, "#voices-message")["y"] - bottom(page, "#voices-new-name") < 40


# Settings


@pytest.fixture()
def settings_restored(served: Served) -> Iterator[None]:
    """The served engine's settings as they were, after the test."""
    before = served.engine.settings
    yield
    served.engine.update_settings(before)


def test_settings_say_what_each_option_costs_and_that_apply_unloads(open_page):
    page = open_page()
    open_tab(page, "Settings")
    about = described(EngineSettings)
    shown = ["device", "dtype", "max_batch", "small_text", "small_coarse", "small_fine", "offload_cpu", "fast"]
    for name in shown:
        playwright.expect(page.get_by_text(about[name].about.help, exact=False).first).to_be_visible()
    playwright.expect(page.locator("#settings-apply-note")).to_contain_text("unloads the models")


def test_apply_confirms_and_shows_what_is_loaded(served, open_page, settings_restored):
    page = open_page()
    open_tab(page, "Settings")
    page.get_by_label("Small coarse model").check()
    page.locator("#settings-apply").click()
    status = page.locator("#engine-status")
    playwright.expect(status).to_contain_text("Applied: Small coarse model on")
    playwright.expect(status).to_contain_text("The models were unloaded")
    playwright.expect(status.locator("tr", has_text="coarse")).to_contain_text("small")
    playwright.expect(status.locator("tr", has_text="fine")).to_contain_text("full")
    assert served.engine.settings.small_coarse and not served.engine.settings.small_fine
    page.locator("#settings-apply").click()  # again, unchanged: nothing is thrown away
    playwright.expect(status).to_contain_text("Nothing to apply")


def test_cuda_graphs_shows_only_where_cuda_runs(open_page):
    page = open_page()
    open_tab(page, "Settings")
    page.get_by_label("Small text model").wait_for()
    cuda_graphs = page.get_by_label(described(EngineSettings)["cuda_graphs"].about.label)
    if torch.cuda.is_available():
        playwright.expect(cuda_graphs).to_be_visible()
    else:
        playwright.expect(cuda_graphs).to_be_hidden()


def test_an_unticked_checkbox_stands_out_from_its_background(open_page):
    """WCAG 2.1 (1.4.11, non-text contrast): a control's edge at least 3:1 against what is behind it."""
    page = open_page()
    open_tab(page, "Settings")
    checkbox = page.get_by_label("Small fine model")
    checkbox.wait_for()
    assert not checkbox.is_checked()
    edge, behind = checkbox.evaluate(
        """box => {
            let el = box.parentElement, behind = 'rgb(255, 255, 255)';
            for (; el; el = el.parentElement) {
                const fill = getComputedStyle(el).backgroundColor;
                if (fill && fill !== 'transparent' && !fill.startsWith('rgba(0, 0, 0, 0')) { behind = fill; break; }
            }
            return [getComputedStyle(box).borderTopColor, behind];
        }"""
    )
    assert contrast(edge, behind) >= 3, (edge, behind)


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two CSS colours 'rgb(r, g, b)'."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def luminance(color: str) -> float:
    channels = [float(c) / 255 for c in re.findall(r"[\d.]+", color)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


# Clone


def test_a_clip_that_is_no_audio_is_refused_on_upload(open_page, tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("Remember to buy milk.\n")
    page = open_page()
    open_tab(page, "Clone")
    page.locator("#clone-audio input[type=file]").set_input_files(str(fake))
    page.locator("#clone-check").get_by_text("notes.wav cannot be read as audio: it is a text file").wait_for()
    playwright.expect(page.locator("#clone-audio audio")).to_have_count(0)  # no 0:00 player left
    playwright.expect(page.locator("#clone-audio input[type=file]")).to_be_attached()  # ready for another


def test_a_short_clip_shows_its_length_and_level_with_a_note(open_page, tmp_path):
    speech = voice_clip(tmp_path / "speech.wav")
    audio, rate = sf.read(speech)
    sf.write(tmp_path / "short.wav", audio[: int(4.5 * rate)], rate)
    page = open_page()
    open_tab(page, "Clone")
    page.locator("#clone-audio input[type=file]").set_input_files(str(tmp_path / "short.wav"))
    check = page.locator("#clone-check")
    check.get_by_text(re.compile(r"4\.5 s \(\d\.\d s of sound\) · level −\d+ dBFS RMS")).wait_for()
    playwright.expect(check).to_contain_text("s of sound is short: 5–15 s clones best")
    page.get_by_role("button", name="Clear").click()
    playwright.expect(check).to_have_text("")


# History


def test_an_empty_history_says_where_generations_come_from(served, open_page):
    for entry in list_outputs(served.output_dir):
        delete_output(served.output_dir, entry.id)
    page = open_page()
    open_tab(page, "History")
    empty = page.locator("#history-empty")
    playwright.expect(empty).to_contain_text("No generations yet")
    playwright.expect(page.locator("#history-table")).to_be_hidden()
    empty.get_by_role("button", name="Go to Generate").click()
    playwright.expect(page.get_by_role("tab", name="Generate")).to_have_attribute("aria-selected", "true")

    options = GenerationOptions(seed=1, max_duration_s=0.2)  # as bark_perform.py would write one
    write_outputs(served.engine.generate("Made elsewhere.", options=options), served.engine, served.output_dir, "wav")
    open_tab(page, "History")  # opened again, it shows what is there now
    table = page.locator("#history-table")
    table.get_by_text("Made elsewhere.").filter(visible=True).first.wait_for()
    table.get_by_text("random", exact=True).filter(visible=True).first.wait_for()  # its voice column
    playwright.expect(empty).to_be_hidden()


def test_delete_with_nothing_chosen_asks_nothing(served, open_page):
    options = GenerationOptions(seed=2, max_duration_s=0.2)
    write_outputs(served.engine.generate("Keep me.", options=options), served.engine, served.output_dir, "wav")
    page = open_page()
    open_tab(page, "History")
    page.locator("#history-table").get_by_text("Keep me.").filter(visible=True).first.wait_for()
    page.locator("#history-delete").click()
    page.get_by_text("Choose a generation to delete first.").wait_for()
    playwright.expect(page.get_by_role("button", name="Yes, delete it")).to_be_hidden()
