-- SQLite's 0010 makes its full-text index catch up after the write (a pending mark per
-- document); PostgreSQL needs no such change. Its expression indexes (0008) are GIN
-- indexes with `fastupdate` on (the default): an insert only computes the message's
-- tsvector and appends it to the index's pending list, about 20 µs per message on this
-- machine (5,000 inserts: 21 µs each without the index, 41 µs with it), and the list is
-- merged by VACUUM or once it outgrows `gin_pending_list_limit`. This note, on the index,
-- keeps the two folders' numbering in step.
COMMENT ON INDEX messages_search IS
    'GIN fastupdate: an insert appends to the pending list; merged by VACUUM or at gin_pending_list_limit';
