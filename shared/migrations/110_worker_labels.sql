-- Placement by worker labels (shared/worker_labels.py): a team or an agent pinned to labels has its runs taken
-- only by workers that have all of them. A run keeps the labels it needed when it was queued (the union of its
-- team's and its agent's), so changing them affects runs queued afterwards, and its queue follows the row.

-- The label syntax of shared/worker_labels.py (LABEL_PATTERN, MAX_LABELS), once for every table that holds labels:
-- at most 4 labels, each 1-16 of a-z, 0-9, '-' starting with a letter or digit, no repeats, no NULL.
CREATE OR REPLACE FUNCTION gamma_worker_labels_ok(labels text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT cardinality(labels) <= 4
       AND COALESCE(array_ndims(labels), 1) = 1
       AND NOT EXISTS (SELECT 1 FROM unnest(labels) AS l(label)
                       WHERE label IS NULL OR label !~ '^[a-z0-9][a-z0-9-]{0,15}$')
       AND (SELECT count(DISTINCT label) FROM unnest(labels) AS l(label)) = cardinality(labels)
$$;

ALTER TABLE teams ADD COLUMN IF NOT EXISTS worker_labels text[] NOT NULL DEFAULT '{}'
    CONSTRAINT teams_worker_labels_check CHECK (gamma_worker_labels_ok(worker_labels));
ALTER TABLE agents ADD COLUMN IF NOT EXISTS worker_labels text[] NOT NULL DEFAULT '{}'
    CONSTRAINT agents_worker_labels_check CHECK (gamma_worker_labels_ok(worker_labels));
-- What a queued run needs (sorted: the queue name is made from it, shared/run_queue.py).
ALTER TABLE runs ADD COLUMN IF NOT EXISTS worker_labels text[] NOT NULL DEFAULT '{}'
    CONSTRAINT runs_worker_labels_check CHECK (gamma_worker_labels_ok(worker_labels));
-- What each worker process offers (GAMMA_WORKER_LABELS): a queued run no live worker can take says so.
ALTER TABLE workers ADD COLUMN IF NOT EXISTS worker_labels text[] NOT NULL DEFAULT '{}'
    CONSTRAINT workers_worker_labels_check CHECK (gamma_worker_labels_ok(worker_labels));
