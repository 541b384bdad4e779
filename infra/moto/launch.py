"""Starts moto_server with two fixes of its DynamoDB Streams model.

1. Stream records are numbered under a lock.

moto 5.2.5 numbers a stream record `len(items) + start` and appends it afterwards
(moto/dynamodb/models/table.py, StreamShard.add). Its server is threaded, so two concurrent
writes to one table can get the same sequence number (measured: 13 in 10,563 records with 64
writers). A reader then iterating AFTER_SEQUENCE_NUMBER of that number gets the second record
back forever, which real DynamoDB Streams never does (sequence numbers grow within a shard).

2. Shard iterators expire after 15 minutes, as DynamoDB's do (ExpiredIteratorException).
moto 5.2.5 keeps every iterator it ever handed out (every GetRecords makes a new one), and each
holds its shard, which holds its table: a reader polling twice a second grew the server by about
10 MB an hour, and every deleted table stayed in memory with all its items and records (the
server reached 1 GB after four replication benchmarks, and its garbage collection pauses grew).

3. GetRecords answers with the records' JSON directly. moto 5.2.5 passes them through its generic
response serializer, which cost 1.6 ms of CPU per record (1,000-record pages): a stream reader
took a third of the server's time from concurrent writers. The records are already in the
wire's shape (moto's own DynamoDB JSON encoder: timestamps as epoch seconds, binary as base64).
"""

import sys
import threading
import time

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.dynamodb.models.table import StreamShard
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator

_lock = threading.Lock()
_add = StreamShard.add


def _numbered_add(self, old, new):
    with _lock:
        return _add(self, old, new)


StreamShard.add = _numbered_add

ITERATOR_TTL_SECONDS = 15 * 60
_iterator_init = ShardIterator.__init__


def _timed_init(self, *args, **kwargs):
    _iterator_init(self, *args, **kwargs)
    self.created = time.monotonic()


class ExpiredIteratorException(JsonRESTError):
    def __init__(self):
        super().__init__(
            "ExpiredIteratorException",
            "Iterator expired. The iterator was created more than 15 minutes ago.",
        )


_prune_lock = threading.Lock()


def _get_records(self, iterator_arn, limit):
    now = time.monotonic()
    iterators = self.shard_iterators
    with _prune_lock:
        # Insertion order is creation order: drop the expired ones from the front.
        while iterators:
            try:
                oldest = next(iter(iterators))
            except RuntimeError:  # another thread inserted meanwhile; prune next time
                break
            if now - getattr(iterators[oldest], "created", now) < ITERATOR_TTL_SECONDS:
                break
            iterators.pop(oldest, None)
    iterator = iterators.get(iterator_arn)
    if iterator is None:
        raise ExpiredIteratorException()
    return iterator.get(limit)


ShardIterator.__init__ = _timed_init
DynamoDBStreamsBackend.get_records = _get_records


def _get_records_response(self):
    limit = self._get_param("Limit")
    result = self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit)
    return dynamo_json_dump(result)


DynamoDBStreamsHandler.get_records = _get_records_response

from moto.server import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
