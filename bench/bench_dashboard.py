"""Dashboard speed in a real browser: upload to finished results, and the monitor's tick.

Starts `streamlit run` (own process group, REWARDPILOT_HOME in a temporary folder), drives
Debian's chromium with playwright, and prints:
- the time from choosing the file on Upload to the Results explorer showing the finished run,
  for N generated transactions (default 100,000), with its parts;
- the Live monitor fragment's render time per tick, as the browser sees it: from the moment
  the app reports a rerun starting to the moment it reports it finished (server work, the
  deltas over the websocket and the browser drawing them). A 100,000-row run is over in a
  second or two, so this is measured on a second server whose chunks are slowed
  (REWARDPILOT_TEST_CHUNK_SLEEP) to keep the same run live for --watch seconds;
- the Results explorer's own rerun time after a filter change.

    python bench/bench_dashboard.py [--rows 100000] [--wallet amex_gold,citi_double_cash,...]
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bench.generate import generate  # noqa: E402
from test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, Server, progress, settle  # noqa: E402

# Records every change of the app's script state (running / notRunning) with a timestamp.
WATCH_STATE = """
window.__ticks = [];
const app = document.querySelector('[data-testid="stApp"]');
new MutationObserver(() => window.__ticks.push([performance.now(), app.getAttribute('data-test-script-state')]))
  .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
"""
CARD_NAMES = {"amex_gold": "American Express Gold", "citi_double_cash": "Citi Double Cash",
              "chase_ink_business_cash": "Chase Ink Business Cash", "citi_custom_cash": "Citi Custom Cash"}


def rerun_ms(ticks: list) -> list[float]:
    """Durations of each running -> notRunning interval, in ms."""
    out, start = [], None
    for at, state in ticks:
        if state == "running":
            start = at
        elif state == "notRunning" and start is not None:
            out.append(at - start)
            start = None
    return out


def describe(ms: list[float]) -> str:
    if not ms:
        return "no ticks seen"
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"median {statistics.median(ms):,.0f} ms, p95 {p95:,.0f} ms, max {ms[-1]:,.0f} ms over {len(ms)} ticks"


def upload_and_start(page, statement: Path, wallet: str, chunk_size: int | None = None) -> tuple[float, float]:
    """Upload, pick the wallet, start; returns the times the file was read and the wallet picked."""
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(statement)
    page.get_by_text("Rows read").wait_for(timeout=600_000)
    settle(page)
    t_read = time.perf_counter()
    page.locator('[data-testid="stMultiSelect"]').first.click()
    for card in wallet.split(","):
        page.keyboard.type(CARD_NAMES.get(card, card))
        page.keyboard.press("Enter")
        settle(page)
    page.keyboard.press("Escape")
    page.get_by_role("heading", name="Wallet").click()
    settle(page)
    if chunk_size:
        field = page.get_by_role("spinbutton", name="Chunk size (transactions per call)")
        for _ in range(3):                                  # a click during a rerun can be lost
            page.locator('[data-testid="stExpander"] summary').filter(has_text="Advanced").click()
            try:
                field.wait_for(state="visible", timeout=5_000)
                break
            except Exception:  # noqa: BLE001 - playwright's TimeoutError: click again
                settle(page)
        field.fill(str(chunk_size))
        field.press("Enter")
        settle(page)
    t_wallet = time.perf_counter()
    page.get_by_role("button", name=re.compile("Start run")).click()
    page.wait_for_url(re.compile(r"/monitor\?run="), timeout=600_000)
    page.locator('[data-testid="stMain"] [data-testid="stProgress"]').first.wait_for(timeout=600_000)
    return t_read, t_wallet


def monitor_ticks(browser, statement: Path, wallet: str, tmp: Path, seconds: float) -> list[float]:
    """Fragment ticks of the monitor while the same run is kept live by slowed chunks."""
    server = Server(tmp / "home-live", tmp / "server-live.log", {"REWARDPILOT_TEST_CHUNK_SLEEP": "1.0"})
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(server.url)
        page.get_by_text("Upload one or more statements").wait_for()
        settle(page)
        upload_and_start(page, statement, wallet, chunk_size=2000)
        page.evaluate(WATCH_STATE)
        page.wait_for_timeout(seconds * 1000)
        ticks = page.evaluate("window.__ticks")
        state = progress(page)
        page.get_by_role("button", name="Cancel run").click()
        settle(page)
        print(f"(monitor watched at {state[0]:,} of {state[1]:,} transactions, {state[2].split('·')[-1].strip()})")
        return rerun_ms(ticks)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--wallet", default="amex_gold,citi_double_cash,chase_ink_business_cash,citi_custom_cash")
    parser.add_argument("--watch", type=float, default=15.0, help="seconds of monitor ticks to record")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        statement = tmp / "statement.csv"
        generate(args.rows, seed=11, card_used="citi_double_cash").to_csv(statement, index=False)
        print(f"{args.rows:,} transactions, {statement.stat().st_size / 1e6:,.1f} MB CSV; wallet {args.wallet}")
        server = Server(tmp / "home", tmp / "server.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1400})
                page.goto(server.url)
                page.get_by_text("Upload one or more statements").wait_for()
                settle(page)

                t0 = time.perf_counter()
                t_read, t_wallet = upload_and_start(page, statement, args.wallet)
                t_submit = time.perf_counter()
                while "done" not in (state := progress(page))[2]:
                    if any(s in state[2] for s in ("failed", "cancelled")):
                        raise SystemExit(f"the run ended {state[2]}")
                    page.wait_for_timeout(100)
                t_done = time.perf_counter()
                page.get_by_role("link", name="Open results").click()
                page.get_by_text("Spend scored").wait_for(timeout=600_000)
                page.get_by_text(re.compile(r"[\d,]+ rows · page 1 of")).wait_for(timeout=600_000)
                settle(page)
                t_results = time.perf_counter()

                page.evaluate(WATCH_STATE)
                page.locator('[data-testid="stExpander"] summary').filter(has_text="Filters").click()
                settle(page)
                page.get_by_role("slider", name="Minimum confidence").first.focus()
                page.keyboard.press("ArrowRight")
                page.wait_for_timeout(500)
                settle(page)
                filter_ms = rerun_ms(page.evaluate("window.__ticks"))
        finally:
            server.stop()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            ticks = monitor_ticks(browser, statement, args.wallet, tmp, args.watch)
            browser.close()

    print(f"upload -> results showing the finished run: {t_results - t0:,.1f} s")
    print(f"  read and check the file:   {t_read - t0:,.1f} s")
    print(f"  pick the wallet:           {t_wallet - t_read:,.1f} s (browser typing)")
    print(f"  start the run (plan):      {t_submit - t_wallet:,.1f} s")
    print(f"  run to 100% on the monitor: {t_done - t_submit:,.1f} s ({args.rows / max(t_done - t_submit, 1e-9):,.0f} transactions/s)")
    print(f"  results page, first load:  {t_results - t_done:,.1f} s")
    print(f"monitor fragment per tick (run live, {args.rows:,} transactions): {describe(ticks)}")
    print(f"results rerun after a filter change: {describe(filter_ms)}")


if __name__ == "__main__":
    main()
