"""Starts moto_server with one fix: DynamoDB stream records are numbered under a lock.

moto 5.2.5 numbers a stream record `len(items) + start` and appends it afterwards
(moto/dynamodb/models/table.py, StreamShard.add). Its server is threaded, so two concurrent
writes to one table can get the same sequence number (measured: 13 in 10,563 records with 64
writers). A reader then iterating AFTER_SEQUENCE_NUMBER of that number gets the second record
back forever, which real DynamoDB Streams never does (sequence numbers grow within a shard).
"""

import sys
import threading

from moto.dynamodb.models.table import StreamShard

_lock = threading.Lock()
_add = StreamShard.add


def _numbered_add(self, old, new):
    with _lock:
        return _add(self, old, new)


StreamShard.add = _numbered_add

from moto.server import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
