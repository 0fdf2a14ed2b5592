-- The facts that notify (issue 6, item 7), each copied into the outbox by outbox_from_events()
-- (0026) in the same transaction as its append:
--
--   PromotedFromWaitlist                  promoted from a waitlist
--   SeatReleased, WaitlistLeft            only when an organiser's change released them: the
--                                         session or the event was cancelled, or merged (a
--                                         participant's own cancel is no news to them)
--   SessionRescheduled,                   a session moved: its time, or its room, capacity or mode
--   SessionCapacityChanged
--   SessionCancelled, SessionsMerged      a session cancelled or merged
--   SeatsOverlapped                       a conflict for the organiser to resolve
--   EventCancelled, EventWentOnline       the event cancelled or gone online
--
-- The WHEN clause is evaluated without calling the function, so every other fact (sign-ups, the
-- bulk of the log) costs one comparison of its type on the append's hot path.
CREATE TRIGGER events_to_outbox
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (
        NEW.type IN ('PromotedFromWaitlist', 'SessionRescheduled', 'SessionCapacityChanged',
                     'SessionCancelled', 'SessionsMerged', 'SeatsOverlapped', 'EventCancelled',
                     'EventWentOnline')
        OR (NEW.type IN ('SeatReleased', 'WaitlistLeft')
            AND NEW.data ->> 'reason' IN ('session-cancelled', 'event-cancelled', 'merged'))
    )
    EXECUTE FUNCTION outbox_from_events();
