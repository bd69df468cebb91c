-- Contract 1.1: a group needs no name (clients show its members instead).
ALTER TABLE chat_sesh
    DROP CONSTRAINT chat_sesh_shape,
    ADD CONSTRAINT chat_sesh_shape CHECK (
        (kind = 'direct' AND name IS NULL AND direct_low < direct_high)
        OR (kind = 'group' AND direct_low IS NULL AND direct_high IS NULL)
    );
