"""`stackdeb master`: the Buildbot master's settings (master.yaml), its database, and the
embedded master the README's main job starts and stops. Plain Python, like every stage:
master/ holds the Buildbot configuration, which reads these settings; nothing here imports
Buildbot's configuration or master/."""
