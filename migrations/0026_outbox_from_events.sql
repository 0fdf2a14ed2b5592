-- outbox_from_events(): the body of the trigger of 0027. It copies one notifying fact into the
-- outbox, in the transaction that appends it; which facts notify is that trigger's WHEN clause,
-- so this body runs only for them.
--
-- Every stream that holds a notifying fact is named `<category>-<organisation>:<event>[:...]`
-- (src/registry/domain/streams.py); organisation and event ids are slugs, which hold no ':',
-- so both are read from the stream id. The log row is not changed (RETURN NULL: AFTER trigger).
CREATE FUNCTION outbox_from_events() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_key          text := substr(NEW.stream_id, strpos(NEW.stream_id, '-') + 1);
    v_organisation text := split_part(v_key, ':', 1);
    v_event        text := split_part(v_key, ':', 2);
BEGIN
    INSERT INTO outbox ("position", organisation, event_key, type, data, recorded_at)
    VALUES (NEW."position", v_organisation, v_organisation || ':' || v_event, NEW.type, NEW.data,
            NEW.recorded_at);
    RETURN NULL;
END;
$$;
