-- The rejects of one delivery or run part: each bad row's number, the field at fault, its value and why.
CREATE TABLE rejects (row BIGINT, field VARCHAR, value VARCHAR, reason VARCHAR)
