-- Participants registered before 0040 have their details only in the log, in ParticipantRegistered
-- of schema 1 (which the codec now reads as schema 2, without them): copy them into
-- participant_details so that reads keep showing their names. The rows of schema 1 stay in the
-- log as they are (it is never rewritten), and an erasure of such a participant cannot remove them
-- from it (docs/decisions.md: pre-production logs).
--
-- Stream ids are participant-<organisation>:<event>:<participant> (src/registry/domain/streams.py),
-- and none of the three holds a colon (slugs and UUIDs). Running it again adds nothing.
INSERT INTO participant_details (organisation, event_id, participant_id, name, email,
                                 organisation_name, recorded_at)
SELECT split_part(p.key, ':', 1), split_part(p.key, ':', 2), split_part(p.key, ':', 3),
       p.data ->> 'name', p.data ->> 'email', p.data ->> 'organisation', p.recorded_at
  FROM (SELECT substr(e.stream_id, length('participant-') + 1) AS key, e.data, e.recorded_at
          FROM events e
         WHERE e.type = 'ParticipantRegistered' AND e.schema_version = 1
           AND e.stream_id LIKE 'participant-%') p
 WHERE p.data ->> 'name' IS NOT NULL AND p.data ->> 'email' IS NOT NULL
ON CONFLICT (organisation, event_id, participant_id) DO NOTHING;
