"""The SQL of the organisers' reads (projections/reads.py). Every table is read in the live
generation of the projection that owns it, passed as a parameter. Names come from
`participant_details` (personal data, outside the log and its read models: migrations/0040) as
it is when the read answers; `erased` says the participant's details were erased."""

from __future__ import annotations

from typing import Final

GENERATIONS: Final = """
SELECT s.name, s.live_generation, c.position
  FROM projection_state s
  JOIN projection_checkpoints c ON c.name = s.name AND c.generation = s.live_generation
 WHERE s.name = ANY($1::text[])
"""
EVENT_EXISTS: Final = "SELECT EXISTS (SELECT 1 FROM streams WHERE stream_id = $1)"
SESSION: Final = """
SELECT session_id, starts_at, ends_at FROM rm_sessions
 WHERE generation = $1 AND organisation = $2 AND event_id = $3 AND session_id = $4
"""
OCCUPANCY: Final = """
SELECT s.session_id, s.title, s.room_id, s.starts_at, s.ends_at, s.capacity, s.state,
       coalesce(o.seated, 0) AS seated, coalesce(o.waitlisted, 0) AS waitlisted
  FROM rm_sessions s
  LEFT JOIN rm_occupancy o
    ON o.generation = $4 AND o.organisation = s.organisation AND o.event_id = s.event_id
   AND o.session_id = s.session_id
 WHERE s.generation = $1 AND s.organisation = $2 AND s.event_id = $3
 ORDER BY s.starts_at, s.session_id
"""
ROOMS: Final = """
SELECT room_id, name, capacity FROM rm_rooms
 WHERE generation = $1 AND organisation = $2 AND event_id = $3 AND room_id > $4
 ORDER BY room_id
 LIMIT $5
"""
# A cancelled or merged session no longer uses its room (the programme lets another session
# take it at those times), so its range is not shown; sessions turned online have no room.
ROOM_RANGES: Final = """
SELECT s.room_id, s.session_id, s.starts_at, s.ends_at, s.capacity,
       coalesce(o.seated, 0) AS seated
  FROM rm_sessions s
  LEFT JOIN rm_occupancy o
    ON o.generation = $4 AND o.organisation = s.organisation AND o.event_id = s.event_id
   AND o.session_id = s.session_id
 WHERE s.generation = $1 AND s.organisation = $2 AND s.event_id = $3
   AND s.room_id = ANY($5::text[]) AND s.state = 'open'
 ORDER BY s.starts_at, s.session_id
"""
ATTENDEES: Final = """
SELECT a.participant_id, d.name, d.erased_at IS NOT NULL AS erased, a.seated_at,
       a.seated_position
  FROM rm_seats a
  LEFT JOIN participant_details d
    ON d.organisation = a.organisation AND d.event_id = a.event_id
   AND d.participant_id = a.participant_id
 WHERE a.generation = $1 AND a.organisation = $2 AND a.event_id = $3 AND a.session_id = $4
   AND a.seated_position > $5
 ORDER BY a.seated_position
 LIMIT $6
"""
WAITLIST: Final = """
WITH queue AS (
    SELECT w.participant_id, w.ticket, w.replaces,
           row_number() OVER (ORDER BY w.ticket) AS waitlist_position
      FROM rm_waits w
     WHERE w.generation = $1 AND w.organisation = $2 AND w.event_id = $3 AND w.session_id = $4
)
SELECT q.participant_id, q.ticket, q.waitlist_position, d.name,
       d.erased_at IS NOT NULL AS erased,
       array(SELECT st.session_id
               FROM rm_seats se
               JOIN rm_sessions st
                 ON st.generation = $5 AND st.organisation = se.organisation
                AND st.event_id = se.event_id AND st.session_id = se.session_id
              WHERE se.generation = $6 AND se.organisation = $2 AND se.event_id = $3
                AND se.participant_id = q.participant_id AND se.session_id <> $4
                AND (se.session_id = q.replaces OR (st.starts_at < $8 AND $7 < st.ends_at))
              ORDER BY st.starts_at, st.session_id) AS fallback_session_ids
  FROM queue q
  LEFT JOIN participant_details d
    ON d.organisation = $2 AND d.event_id = $3 AND d.participant_id = q.participant_id
 WHERE q.ticket > $9
 ORDER BY q.ticket
 LIMIT $10
"""
# Times are the sessions' current ones (rm_sessions follows reschedules): a conflict is what
# the programme looks like now, not when the seats were given.
CONFLICTS: Final = """
WITH held AS (
    SELECT se.participant_id, se.session_id, st.starts_at, st.ends_at
      FROM rm_seats se
      JOIN rm_sessions st
        ON st.generation = $4 AND st.organisation = se.organisation
       AND st.event_id = se.event_id AND st.session_id = se.session_id
     WHERE se.generation = $1 AND se.organisation = $2 AND se.event_id = $3
), clashing AS (
    SELECT DISTINCT a.participant_id, a.session_id, a.starts_at
      FROM held a JOIN held b
        ON b.participant_id = a.participant_id AND b.session_id <> a.session_id
       AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
)
SELECT c.participant_id, d.name, d.erased_at IS NOT NULL AS erased,
       array_agg(c.session_id ORDER BY c.starts_at, c.session_id) AS session_ids
  FROM clashing c
  LEFT JOIN participant_details d
    ON d.organisation = $2 AND d.event_id = $3 AND d.participant_id = c.participant_id
 WHERE c.participant_id > $5
 GROUP BY c.participant_id, d.name, d.erased_at
 ORDER BY c.participant_id
 LIMIT $6
"""
