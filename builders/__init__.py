"""stackdeb pipeline stages: plain Python, no Buildbot import. The CLI lives in cli.py."""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
