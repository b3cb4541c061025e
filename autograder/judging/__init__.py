"""Judging: what the checks of the parts (autograder/parts/) are built from.

    kit.py               Test, Fail and the helpers checks use (closeness, credit, one_hot, ...)
    secret.py            the judge's key and the secret inputs drawn from it
    distort.py           the secret change of the public test images the models are scored on
    genuine.py           whether generated images are new (not copies of the data set)
    judge_classifier.py  the shipped classifier that reads generated and completed images
"""
