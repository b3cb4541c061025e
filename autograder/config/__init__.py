"""Configuration: what a grading is asked to do and within what limits.

    course.py    course files (courses/*.toml): parts, points, visibility, the platform
    settings.py  fixed settings every part shares; the data set graded on (datasets/)
    budget.py    the platform's time and memory, planned across the parts' processes
    locate.py    finding the student's files in a submission
    stamp.py     which files make the grader (shipped, hashed, copied for each grading) and the stamp
"""
