"""The report: the parts' pictures laid out for the student (judge side: numpy and matplotlib,
no TensorFlow). It knows no part by name: each part's module draws its own (pictures(run),
with drawing.py).

    figures(runs)          -> [(title, PNG bytes, caption, test number)] from what the measuring
                              process returned (a picture belongs to the test it illustrates)
    page(results, figures) -> a self-contained HTML page (outputs/report.html): images embedded,
                              nothing fetched from the network
    overview(results, figures, form) -> results.json's top-level output in Gradescope's "html"
                              or "md" format, or None for "text" (course setting results_format)
"""
import base64
import html


def figures(runs):
    """The pictures the measured values allow, part by part in grading order: each part's
    pictures(run) (its module draws them; drawing.py is their toolkit). A part whose pictures
    fail to draw shows none; the others' still show."""
    from ..parts import BY_NAME, NAMES

    out = []
    for name in (name for name in NAMES if runs.get(name) is not None and name in BY_NAME):
        draw = getattr(BY_NAME[name], "pictures", None)
        if draw is None:
            continue
        try:
            out.extend(draw(runs[name]))
        except Exception:  # noqa: BLE001 - one part's pictures must not take the others' with them
            pass
    return out


def data_uri(data):
    return "data:image/png;base64," + base64.b64encode(data).decode()


STYLE = """body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3em .5em;vertical-align:top;
text-align:left}td.s{white-space:nowrap}tr.failed td.s{color:#b00020;font-weight:bold}pre{white-space:pre-wrap;
margin:.2em 0;font-size:.85em}figure{margin:1.5em 0}figcaption{font-size:.9em;color:#555}"""


def visible(results, pictures):
    """(results, pictures) as a student sees them before the due date: the tests whose
    visibility is "visible", and only their pictures (a hidden test's picture or caption
    would tell its result; so would the picture of a test a handout's course leaves out)."""
    tests = [e for e in results["tests"] if e.get("visibility", "visible") == "visible"]
    shown = {e["number"] for e in tests}
    kept = {**results, "tests": tests, "score": round(sum(e["score"] for e in tests), 2)}
    return kept, [picture for picture in pictures if picture[3] in shown]  # not a test left out of a handout's either


def page(results, pictures, title="Autograder report", hidden=0):
    """A self-contained HTML page: the total, every test with its message, the pictures;
    `hidden`: how many tests this view leaves out (said on the page)."""
    total = sum(e["max_score"] for e in results["tests"])
    rows = "".join(
        f"<tr class='{e['status']}'><td>{html.escape(e['number'])}</td><td class='s'>{e['score']:g} / {e['max_score']:g}"
        f"</td><td>{html.escape(e['name'])}<pre>{html.escape(e['output'])}</pre></td></tr>" for e in results["tests"])
    shown = "".join(f"<figure><img alt='{html.escape(t)}' src='{data_uri(data)}'><figcaption><b>{html.escape(t)}</b>. "
                    f"{html.escape(c)}</figcaption></figure>" for t, data, c, _ in pictures)
    later = f" {hidden} more test(s) are shown after the due date." if hidden else ""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p><b>Total: {results['score']:g} / {total:g}</b> ({results['execution_time']:.0f} s).{later}</p>"
            f"{shown or '<p>No pictures: the training parts were not graded or did not finish.</p>'}"
            f"<table><tr><th>test</th><th>points</th><th>name and message</th></tr>{rows}</table>"
            f"<h2>Grading log</h2><pre>{html.escape(results['output'])}</pre></body></html>")


def overview(output, pictures, form):
    """results.json's top-level output for Gradescope: the grading log and the pictures, as
    "html" or "md"; None for "text" (the plain log stays as it is)."""
    if form == "html":
        shown = "".join(f"<p><b>{html.escape(t)}</b><br><img alt='{html.escape(t)}' src='{data_uri(data)}'><br>"
                        f"{html.escape(c)}</p>" for t, data, c, _ in pictures)
        return shown + f"<pre>{html.escape(output)}</pre>"
    if form == "md":
        shown = "".join(f"**{t}**\n\n![{t}]({data_uri(data)})\n\n{c}\n\n" for t, data, c, _ in pictures)
        return shown + "```\n" + output.replace("```", "'''") + "\n```\n"
    return None
