"""Lists the FerretDB SQLite databases in a data folder that FerretDB cannot open.

FerretDB 1.24.2 refuses to start ("no such table: _ferretdb_collections") when one database file
lacks its metadata table. Seen after FerretDB crashed (SIGBUS in SQLite's WAL index) while a
database was dropped under a running query: the dropped file came back empty. Prints one file
name per line; infra/services/ferretdb.ts moves them aside before FerretDB starts.
"""

import glob
import os
import sqlite3
import sys

folder = sys.argv[1]
for path in sorted(glob.glob(os.path.join(folder, "*.sqlite"))):
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            found = db.execute(
                "select count(*) from sqlite_master where name = '_ferretdb_collections'"
            ).fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        found = 0
    if found != 1:
        print(os.path.basename(path))
