-- Batchyard 0007: grain state is compressed with lz4 rather than pglz. The registry's state (every DAG id) is
-- written often while a folder of thousands of DAG files loads, and pglz took a good part of the server's CPU
-- for it; lz4 costs a fraction of that. Values written before keep their pglz compression until they are next
-- written. A server built without lz4 (or older than 14) keeps pglz: nothing else depends on it.

DO $$
BEGIN
    EXECUTE 'ALTER TABLE OrleansStorage ALTER COLUMN PayloadBinary SET COMPRESSION lz4';
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'grain state stays pglz-compressed: %', SQLERRM;
END
$$;
