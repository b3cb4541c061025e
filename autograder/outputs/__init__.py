"""Outputs: what a grading leaves behind.

    results.py  results.json in Gradescope's format, and the terminal's table
    report.py   the HTML report, laying out the pictures the parts draw
    drawing.py  the toolkit the parts draw their pictures with
    record.py   what was measured, kept to re-score a grading without running it again
"""
