-- Read model `catalog` (projections/catalog.py): every room of every event.
CREATE TABLE rm_rooms (
    generation   integer NOT NULL,
    organisation text    NOT NULL,
    event_id     text    NOT NULL,
    room_id      text    NOT NULL,
    name         text    NOT NULL,
    capacity     integer NOT NULL,
    location     text,
    PRIMARY KEY (generation, organisation, event_id, room_id)
);
