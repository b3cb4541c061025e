"""Isolation: student code runs in processes of its own, behind walls, and only graphs come back.

    sandbox.py    a grading's processes: start, watch, collect (Sandbox, StageRun)
    forkserver.py one process that imported TensorFlow once, forking each of a grading's processes
    users.py      unprivileged user ids, namespaces, seccomp, cleaning up after a process
    walls.py      the private copy of the grader and the probe that checks the walls (+ landlock.py)
    watching.py   time, memory, disk and output limits
    reading.py    reading what a process wrote, defensively
    child.py      the entry point of both processes; student.py the student's side (Exporter),
                  measuring.py the measuring side; graphs.py what an exported graph may hold;
                  steps.py a part's build steps and the judge's functions each is handed
"""
