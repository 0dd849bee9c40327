-- crypto-gaf database schema: the one source of the schema.
--
-- The file is a list of versioned migrations. Each starts with a line
--   -- migration: <version> <name>
-- and runs in its own transaction; the version is recorded in crypto_gaf.schema_migrations.
-- Every statement is idempotent (IF NOT EXISTS, OR REPLACE), so the schema applies cleanly to an
-- empty database and to a database of the original crypto-gaf (Python/Express) alike.
-- Released migrations never change; append new ones.

-- migration: 1 original tables
CREATE SCHEMA IF NOT EXISTS crypto_gaf;

-- One row per product: the product registry (product, max_size) and the latest images.
CREATE TABLE IF NOT EXISTS crypto_gaf.gafs
(
  buy_image text,
  orderbook_image text,
  max_size integer,
  midpoint numeric,
  midpoint_images text[],
  product text PRIMARY KEY NOT NULL,
  sell_image text,
  size integer
);

-- The rolling history of order-book samples, newest = highest sample_id.
CREATE TABLE IF NOT EXISTS crypto_gaf.samples
(
  ask_prices numeric[],
  ask_sizes numeric[],
  bid_prices numeric[],
  bid_sizes numeric[],
  buys numeric[],
  midpoint numeric,
  product text references crypto_gaf.gafs(product),
  sample_id bigserial PRIMARY KEY,
  sells numeric[]
);

-- migration: 2 timestamps, index, cursors, calculate bookkeeping
-- When the sample was taken; defaults to now() so the original collector's INSERT still works.
ALTER TABLE crypto_gaf.samples ADD COLUMN IF NOT EXISTS sampled_at timestamptz NOT NULL DEFAULT now();
-- Newest-first reads and per-product trims.
CREATE INDEX IF NOT EXISTS samples_product_sample_id ON crypto_gaf.samples (product, sample_id);

-- What calculate last computed from: the newest sample id and the number of samples used.
-- Calculate recomputes a product only when the table's newest samples differ from these.
ALTER TABLE crypto_gaf.gafs ADD COLUMN IF NOT EXISTS source_sample_id bigint;
ALTER TABLE crypto_gaf.gafs ADD COLUMN IF NOT EXISTS source_count integer;
-- When calculate last wrote the images.
ALTER TABLE crypto_gaf.gafs ADD COLUMN IF NOT EXISTS computed_at timestamptz;
-- Base64 PNGs do not compress: store them out of line without pglz.
ALTER TABLE crypto_gaf.gafs ALTER COLUMN buy_image SET STORAGE EXTERNAL;
ALTER TABLE crypto_gaf.gafs ALTER COLUMN sell_image SET STORAGE EXTERNAL;
ALTER TABLE crypto_gaf.gafs ALTER COLUMN orderbook_image SET STORAGE EXTERNAL;
ALTER TABLE crypto_gaf.gafs ALTER COLUMN midpoint_images SET STORAGE EXTERNAL;

-- The collector's position per product (e.g. the market-order sequence, the simulator state), so a
-- restart resumes where the last committed sample left off. Written in the sample's transaction.
CREATE TABLE IF NOT EXISTS crypto_gaf.collector_cursors
(
  product text PRIMARY KEY REFERENCES crypto_gaf.gafs(product) ON DELETE CASCADE,
  source text NOT NULL,
  cursor jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Any change of a gafs row (images written by any writer, products added, resized or removed)
-- is announced on channel cgaf_gafs with the product as payload; API caches refresh from it.
CREATE OR REPLACE FUNCTION crypto_gaf.notify_gafs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('cgaf_gafs', OLD.product);
  ELSE
    PERFORM pg_notify('cgaf_gafs', NEW.product);
  END IF;
  RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS gafs_notify ON crypto_gaf.gafs;
CREATE TRIGGER gafs_notify AFTER INSERT OR UPDATE OR DELETE ON crypto_gaf.gafs
  FOR EACH ROW EXECUTE FUNCTION crypto_gaf.notify_gafs();

-- migration: 3 plugin registry
-- Every uploaded (or built-in) plugin version: the component bytes, what its info() said, and
-- whether it is the active version of its name. At most one version per name is active.
CREATE TABLE IF NOT EXISTS crypto_gaf.plugins
(
  name text NOT NULL,
  version text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('image-transform', 'strategy', 'blender')),
  sha256 text NOT NULL,
  bytes bytea NOT NULL,
  description text NOT NULL DEFAULT '',
  params jsonb NOT NULL DEFAULT '[]',
  builtin boolean NOT NULL DEFAULT false,
  uploader text,
  uploaded_at timestamptz NOT NULL DEFAULT now(),
  active boolean NOT NULL DEFAULT false,
  activated_at timestamptz,
  quarantined_at timestamptz,
  quarantine_reason text,
  PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX IF NOT EXISTS plugins_one_active ON crypto_gaf.plugins (name) WHERE active;
-- Component bytes are already compressed; keep them out of line without pglz.
ALTER TABLE crypto_gaf.plugins ALTER COLUMN bytes SET STORAGE EXTERNAL;

-- Activation history, newest last: what rollback goes back to.
CREATE TABLE IF NOT EXISTS crypto_gaf.plugin_activations
(
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  version text NOT NULL,
  reason text NOT NULL,
  activated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS plugin_activations_name ON crypto_gaf.plugin_activations (name, id);

-- Every change of a plugins row is announced on cgaf_plugins (payload: name); every replica
-- reloads its active set from it.
CREATE OR REPLACE FUNCTION crypto_gaf.notify_plugins() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('cgaf_plugins', OLD.name);
  ELSE
    PERFORM pg_notify('cgaf_plugins', NEW.name);
  END IF;
  RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS plugins_notify ON crypto_gaf.plugins;
CREATE TRIGGER plugins_notify AFTER INSERT OR UPDATE OR DELETE ON crypto_gaf.plugins
  FOR EACH ROW EXECUTE FUNCTION crypto_gaf.notify_plugins();

-- migration: 4 worker leases
-- Replicas of the workers share products: each (role, product) is leased by one worker at a
-- time; a lease expires unless renewed, so a dead worker's products pass to the others.
CREATE TABLE IF NOT EXISTS crypto_gaf.workers
(
  worker_id text PRIMARY KEY,
  roles text[] NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS crypto_gaf.leases
(
  role text NOT NULL,
  product text NOT NULL REFERENCES crypto_gaf.gafs(product) ON DELETE CASCADE,
  holder text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (role, product)
);

-- migration: 5 strategy runs, decision log, kill switch, sweeps
-- One row per strategy run: what it runs, on what, with which costs and limits, and where it is.
-- A worker claims a run (holder + heartbeat); a run whose holder stopped heartbeating passes to
-- another worker, which resumes it from `portfolio`, `strategy_state` and `last_bar_ms`.
CREATE TABLE IF NOT EXISTS crypto_gaf.runs
(
  run_id bigserial PRIMARY KEY,
  strategy text NOT NULL,
  strategy_version text NOT NULL,
  params jsonb NOT NULL DEFAULT '{}',
  product text NOT NULL,
  mode text NOT NULL CHECK (mode IN ('backtest', 'paper')),
  from_ms bigint,
  to_ms bigint,
  bar_interval_ms bigint NOT NULL CHECK (bar_interval_ms > 0),
  settings jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'finished', 'stopped', 'failed')),
  status_reason text,
  stop_requested boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  holder text,
  heartbeat_at timestamptz,
  bars_done bigint NOT NULL DEFAULT 0,
  bars_total bigint,
  last_bar_ms bigint,
  portfolio jsonb,
  strategy_state jsonb,
  metrics jsonb,
  decision_log_sha256 text
);
CREATE INDEX IF NOT EXISTS runs_status ON crypto_gaf.runs (status);

-- The decision log (FMEL): one row per bar of a run — market state, strategy state, decision,
-- risk-gate action, order and fill, position, cash and equity.
CREATE TABLE IF NOT EXISTS crypto_gaf.decisions
(
  run_id bigint NOT NULL REFERENCES crypto_gaf.runs(run_id) ON DELETE CASCADE,
  seq bigint NOT NULL,
  time_ms bigint NOT NULL,
  market jsonb NOT NULL,
  strategy_state jsonb,
  target float8 NOT NULL,
  reason text,
  gate text,
  order_target float8,
  fill_price float8,
  fill_quantity float8,
  fee float8,
  position float8 NOT NULL,
  held_target float8 NOT NULL,
  cash float8 NOT NULL,
  equity float8 NOT NULL,
  PRIMARY KEY (run_id, seq)
);
CREATE INDEX IF NOT EXISTS decisions_time ON crypto_gaf.decisions (run_id, time_ms);

-- The global kill switch: while engaged, every paper run flattens and stops, and no paper run starts.
CREATE TABLE IF NOT EXISTS crypto_gaf.kill_switch
(
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  engaged boolean NOT NULL DEFAULT false,
  reason text,
  changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO crypto_gaf.kill_switch (id) VALUES (true) ON CONFLICT DO NOTHING;

-- Parameter sweeps: a grid of backtests (optionally walk-forward), run by a trade worker.
CREATE TABLE IF NOT EXISTS crypto_gaf.sweeps
(
  sweep_id bigserial PRIMARY KEY,
  request jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'finished', 'failed')),
  status_reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  holder text,
  heartbeat_at timestamptz,
  jobs_done bigint NOT NULL DEFAULT 0,
  jobs_total bigint,
  result jsonb,
  heatmap_png bytea
);

-- New runs and sweeps are announced on cgaf_runs so trade workers start them at once.
CREATE OR REPLACE FUNCTION crypto_gaf.notify_runs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('cgaf_runs', TG_TABLE_NAME);
  RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS runs_notify ON crypto_gaf.runs;
CREATE TRIGGER runs_notify AFTER INSERT ON crypto_gaf.runs
  FOR EACH ROW EXECUTE FUNCTION crypto_gaf.notify_runs();
DROP TRIGGER IF EXISTS sweeps_notify ON crypto_gaf.sweeps;
CREATE TRIGGER sweeps_notify AFTER INSERT ON crypto_gaf.sweeps
  FOR EACH ROW EXECUTE FUNCTION crypto_gaf.notify_runs();

-- migration: 6 market history
-- The history store: bars per product and interval, kept apart from the image window (samples).
-- Keyed by (product, interval_ms, close_time) — the product is in every unique key, so the table
-- can be distributed by product (Citus) — and partitioned by interval (LIST), then by close time
-- (RANGE: a day per partition below 1m, a month below 1h, a year above). Partitions are created
-- ahead by crypto_gaf.ensure_bar_partitions and dropped whole by retention.
CREATE TABLE IF NOT EXISTS crypto_gaf.bars
(
  product text NOT NULL,
  interval_ms bigint NOT NULL CHECK (interval_ms > 0),
  close_time timestamptz NOT NULL,
  open float8 NOT NULL,
  high float8 NOT NULL,
  low float8 NOT NULL,
  close float8 NOT NULL,
  volume float8 NOT NULL,
  -- Taker buy and sell volume; NULL when the source does not tell (exchange candles).
  buy_volume float8,
  sell_volume float8,
  -- Samples aggregated (collected bars only).
  sample_count bigint,
  -- The book at the close (collected bars only).
  bid float8,
  ask float8,
  bid_depth float8,
  ask_depth float8,
  -- First and last sample time of a collected 1-second bar: a late sample never moves its
  -- open or close.
  first_sample_at timestamptz,
  last_sample_at timestamptz,
  -- collected (by cgaf serve) or imported; a stored bar is only replaced by a bar of its origin.
  origin text NOT NULL CHECK (origin IN ('collected', 'imported')),
  -- What it came from: the collect source (simulator, coinbase, ...), the exchange downloaded
  -- from, or the imported file.
  source text NOT NULL,
  PRIMARY KEY (product, interval_ms, close_time)
) PARTITION BY LIST (interval_ms);

-- Every partition the history store created, with its range: what retention drops.
CREATE TABLE IF NOT EXISTS crypto_gaf.history_partitions
(
  name text PRIMARY KEY,
  parent text NOT NULL,
  interval_ms bigint NOT NULL,
  starts timestamptz NOT NULL,
  ends timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS history_partitions_ends ON crypto_gaf.history_partitions (parent, interval_ms, ends);

-- The shortest name of an interval: 250ms, 1s, 5m, 1h, 1d.
CREATE OR REPLACE FUNCTION crypto_gaf.interval_label(ms bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN ms % 86400000 = 0 THEN (ms / 86400000) || 'd'
    WHEN ms % 3600000 = 0 THEN (ms / 3600000) || 'h'
    WHEN ms % 60000 = 0 THEN (ms / 60000) || 'm'
    WHEN ms % 1000 = 0 THEN (ms / 1000) || 's'
    ELSE ms || 'ms' END
$$;

-- Creates the partitions of `parent` ('bars' for bars of p_interval_ms; 'sample_archive' with
-- interval 0) covering [p_from, p_to]; returns how many it created. Safe to call concurrently.
CREATE OR REPLACE FUNCTION crypto_gaf.ensure_history_partitions(p_parent text, p_interval_ms bigint, p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  period text;
  list_name text;
  t timestamp;
  t_end timestamp;
  part text;
  made integer := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('cgaf_history_partitions'));
  IF p_parent = 'bars' THEN
    period := CASE WHEN p_interval_ms < 60000 THEN 'day' WHEN p_interval_ms < 3600000 THEN 'month' ELSE 'year' END;
    list_name := 'bars_' || crypto_gaf.interval_label(p_interval_ms);
    IF to_regclass('crypto_gaf.' || list_name) IS NULL THEN
      EXECUTE format('CREATE TABLE crypto_gaf.%I PARTITION OF crypto_gaf.bars FOR VALUES IN (%s) PARTITION BY RANGE (close_time)',
                     list_name, p_interval_ms);
    END IF;
  ELSIF p_parent = 'sample_archive' THEN
    period := 'day';
    list_name := 'sample_archive';
  ELSE
    RAISE EXCEPTION 'unknown history table %', p_parent;
  END IF;
  t := date_trunc(period, p_from AT TIME ZONE 'UTC');
  WHILE t <= (p_to AT TIME ZONE 'UTC') LOOP
    t_end := t + ('1 ' || period)::interval;
    part := list_name || '_' || to_char(t, CASE period WHEN 'day' THEN 'YYYYMMDD' WHEN 'month' THEN 'YYYYMM' ELSE 'YYYY' END);
    IF to_regclass('crypto_gaf.' || part) IS NULL THEN
      EXECUTE format('CREATE TABLE crypto_gaf.%I PARTITION OF crypto_gaf.%I FOR VALUES FROM (%L) TO (%L)',
                     part, list_name, (t AT TIME ZONE 'UTC'), (t_end AT TIME ZONE 'UTC'));
      INSERT INTO crypto_gaf.history_partitions (name, parent, interval_ms, starts, ends)
      VALUES (part, p_parent, p_interval_ms, t AT TIME ZONE 'UTC', t_end AT TIME ZONE 'UTC')
      ON CONFLICT (name) DO NOTHING;
      made := made + 1;
    END IF;
    t := t_end;
  END LOOP;
  RETURN made;
END;
$$;

-- Drops the partitions of `parent` (and interval) that end at or before p_before: retention.
-- Returns the names dropped.
CREATE OR REPLACE FUNCTION crypto_gaf.drop_history_partitions(p_parent text, p_interval_ms bigint, p_before timestamptz)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('cgaf_history_partitions'));
  FOR r IN SELECT name FROM crypto_gaf.history_partitions
           WHERE parent = p_parent AND interval_ms = p_interval_ms AND ends <= p_before ORDER BY starts LOOP
    EXECUTE format('DROP TABLE IF EXISTS crypto_gaf.%I', r.name);
    DELETE FROM crypto_gaf.history_partitions WHERE name = r.name;
    RETURN NEXT r.name;
  END LOOP;
END;
$$;

-- The optional raw-sample archive (--keep-samples): every sample as collected, partitioned by
-- day; the image window's trim never touches it. Sub-second bars and order-book replay read it.
CREATE TABLE IF NOT EXISTS crypto_gaf.sample_archive
(
  product text NOT NULL,
  sampled_at timestamptz NOT NULL,
  sample_id bigint NOT NULL,
  midpoint numeric NOT NULL,
  ask_prices numeric[],
  ask_sizes numeric[],
  bid_prices numeric[],
  bid_sizes numeric[],
  buys numeric[],
  sells numeric[],
  PRIMARY KEY (product, sampled_at, sample_id)
) PARTITION BY RANGE (sampled_at);

-- What a run covered: bars the range should hold, bars found, and the missing stretches.
ALTER TABLE crypto_gaf.runs ADD COLUMN IF NOT EXISTS bars_expected bigint;
ALTER TABLE crypto_gaf.runs ADD COLUMN IF NOT EXISTS bars_found bigint;
ALTER TABLE crypto_gaf.runs ADD COLUMN IF NOT EXISTS gaps jsonb;

-- migration: 7 decision log stored as written
-- The decision log keeps the market and the strategy state as the JSON text written (`json`,
-- not `jsonb`): jsonb re-renders numbers (a float written 1e18 comes back as the integer
-- 1000000000000000000), so a log read back could differ from the log a run hashed as it wrote
-- it. Stored as written, the export is byte for byte what the run hashed, and writing skips
-- jsonb's conversion. Rows logged before keep their values (jsonb's rendering, which their
-- recorded hash was computed from).
ALTER TABLE crypto_gaf.decisions ALTER COLUMN market TYPE json USING market::json;
ALTER TABLE crypto_gaf.decisions ALTER COLUMN strategy_state TYPE json USING strategy_state::json;

-- migration: 8 matrix pipeline
-- The matrix pipeline (calculate worker): feature vectors rolled up per granularity, transition
-- matrices between consecutive rollups, blends of the last k matrices by a blender plugin,
-- forecasts and their scores. `pipeline` is 'live' for the service and a replay's name for
-- `cgaf replay`, so replays never mix with live rows. `features` is the feature set's key (what
-- each axis of w and of the matrices means), recorded on every row. Times are bucket starts.
CREATE TABLE IF NOT EXISTS crypto_gaf.matrix_rollups
(
  pipeline text NOT NULL,
  product text NOT NULL,
  granularity_ms bigint NOT NULL CHECK (granularity_ms > 0),
  start_at timestamptz NOT NULL,
  end_at timestamptz NOT NULL,
  sample_count bigint NOT NULL,
  features text NOT NULL,
  w float8[] NOT NULL,
  PRIMARY KEY (pipeline, product, granularity_ms, start_at)
);

-- M with M·w(t0) ≈ w(t1) for consecutive rollups; residual = ‖M·w(t0) − w(t1)‖₂.
CREATE TABLE IF NOT EXISTS crypto_gaf.matrix_transitions
(
  pipeline text NOT NULL,
  product text NOT NULL,
  granularity_ms bigint NOT NULL,
  t0 timestamptz NOT NULL,
  t1 timestamptz NOT NULL,
  mode text NOT NULL,
  features text NOT NULL,
  size integer NOT NULL,
  matrix float8[] NOT NULL,
  residual float8 NOT NULL,
  PRIMARY KEY (pipeline, product, granularity_ms, t1)
);

-- The blend of the last k transitions (newest at t1) by a blender plugin version, with the
-- newest w, the spectral-norm drift from the previous blend and the diagonal-dominance margin.
CREATE TABLE IF NOT EXISTS crypto_gaf.matrix_blends
(
  pipeline text NOT NULL,
  product text NOT NULL,
  granularity_ms bigint NOT NULL,
  t1 timestamptz NOT NULL,
  blender text NOT NULL,
  blender_version text NOT NULL,
  k integer NOT NULL,
  matrices integer NOT NULL,
  features text NOT NULL,
  size integer NOT NULL,
  matrix float8[] NOT NULL,
  w float8[] NOT NULL,
  drift float8,
  diagonal_dominance float8 NOT NULL,
  PRIMARY KEY (pipeline, product, granularity_ms, t1)
);

-- ŵ(t+1) = M_blend · w(t), made at the rollup starting at base_at.
CREATE TABLE IF NOT EXISTS crypto_gaf.matrix_forecasts
(
  pipeline text NOT NULL,
  product text NOT NULL,
  granularity_ms bigint NOT NULL,
  base_at timestamptz NOT NULL,
  blender text NOT NULL,
  features text NOT NULL,
  forecast float8[] NOT NULL,
  PRIMARY KEY (pipeline, product, granularity_ms, base_at)
);

-- A forecast scored against the rollup that followed (starting at actual_at), and the naive
-- forecast w(t) against the same; skill = 1 − rmse / naive_rmse (NULL when naive was exact).
CREATE TABLE IF NOT EXISTS crypto_gaf.matrix_scores
(
  pipeline text NOT NULL,
  product text NOT NULL,
  granularity_ms bigint NOT NULL,
  base_at timestamptz NOT NULL,
  actual_at timestamptz NOT NULL,
  blender text NOT NULL,
  features text NOT NULL,
  mae float8 NOT NULL,
  rmse float8 NOT NULL,
  naive_mae float8 NOT NULL,
  naive_rmse float8 NOT NULL,
  skill float8,
  drift float8,
  diagonal_dominance float8 NOT NULL,
  PRIMARY KEY (pipeline, product, granularity_ms, actual_at)
);

-- Where each pipeline stands per product: the last sample consumed and the state (open buckets,
-- the last rollup, the last k matrices, the last blend, the pending forecast), written in the
-- transaction of the rows it produced, so a restart resumes exactly.
CREATE TABLE IF NOT EXISTS crypto_gaf.matrix_cursors
(
  pipeline text NOT NULL,
  product text NOT NULL,
  sample_id bigint NOT NULL,
  state jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pipeline, product)
);

-- A replay: what it recomputed, with which settings, and the hash of its stored rows.
CREATE TABLE IF NOT EXISTS crypto_gaf.matrix_replays
(
  name text PRIMARY KEY CHECK (name <> 'live'),
  product text NOT NULL,
  from_at timestamptz NOT NULL,
  to_at timestamptz NOT NULL,
  settings jsonb NOT NULL,
  rows_sha256 text,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);

-- Every new live blend is announced on cgaf_matrix_blends (payload: product).
CREATE OR REPLACE FUNCTION crypto_gaf.notify_matrix_blends() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.pipeline = 'live' THEN
    PERFORM pg_notify('cgaf_matrix_blends', NEW.product);
  END IF;
  RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS matrix_blends_notify ON crypto_gaf.matrix_blends;
CREATE TRIGGER matrix_blends_notify AFTER INSERT ON crypto_gaf.matrix_blends
  FOR EACH ROW EXECUTE FUNCTION crypto_gaf.notify_matrix_blends();

-- migration: 9 plugin call failures, the version that decided
-- A plugin call that faulted (trapped, timed out, hit the memory limit, returned an invalid
-- result or failed) with what it was given, so its author can replay it (`cgaf plugin replay`).
-- Bounded: inputs over the size cap are not kept (`inputs` NULL, `inputs_bytes` says how big
-- they were), and only the newest failures of each plugin version are kept.
CREATE TABLE IF NOT EXISTS crypto_gaf.plugin_failures
(
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  version text NOT NULL,
  sha256 text NOT NULL,
  call text NOT NULL,
  error_code text NOT NULL,
  error jsonb NOT NULL,
  error_message text NOT NULL,
  limits jsonb NOT NULL,
  inputs json,
  inputs_bytes bigint NOT NULL,
  failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS plugin_failures_version ON crypto_gaf.plugin_failures (name, version, id);

-- The strategy version that decided a bar, on paper runs (a quarantine switches a paper run to
-- the version put back); NULL on backtests.
ALTER TABLE crypto_gaf.decisions ADD COLUMN IF NOT EXISTS strategy_version text;

-- migration: 10 matrix blend ids and matrix sweeps
-- Every blend gets an increasing id: the `id:` of the blend stream's events
-- (`GET /api/matrices/stream`), so a client resumes with Last-Event-ID from the table. Rows of
-- one (pipeline, product) are written by one fenced writer, so within a stream ids are in commit
-- order.
ALTER TABLE crypto_gaf.matrix_blends ADD COLUMN IF NOT EXISTS id bigint GENERATED BY DEFAULT AS IDENTITY;
CREATE INDEX IF NOT EXISTS matrix_blends_by_id ON crypto_gaf.matrix_blends (pipeline, product, granularity_ms, id);

-- A tuning sweep of the matrix pipeline (`cgaf sweep --matrices`): every combination of k,
-- solver and blender replayed over one stored range; each combination is a replay of its own
-- (crypto_gaf.matrix_replays), ranked by mean forecast RMSE (lower first), then skill.
CREATE TABLE IF NOT EXISTS crypto_gaf.matrix_sweeps
(
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL UNIQUE,
  product text NOT NULL,
  from_at timestamptz NOT NULL,
  to_at timestamptz NOT NULL,
  grid jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);

CREATE TABLE IF NOT EXISTS crypto_gaf.matrix_sweep_results
(
  sweep_id bigint NOT NULL REFERENCES crypto_gaf.matrix_sweeps (id) ON DELETE CASCADE,
  replay text NOT NULL REFERENCES crypto_gaf.matrix_replays (name),
  rank integer NOT NULL,
  k integer NOT NULL,
  solver text NOT NULL,
  blender text NOT NULL,
  scores bigint NOT NULL,
  rmse float8,
  skill float8,
  faults bigint NOT NULL,
  rows_sha256 text NOT NULL,
  PRIMARY KEY (sweep_id, replay)
);

-- migration: 11 compiled plugins shared by replicas
-- Native code of a plugin component compiled by one replica, signed with the deployment's
-- artifact key (HMAC-SHA256 over engine, sha256 and code), so other replicas deserialize it
-- instead of compiling. Keyed by the component's sha256 and the engine fingerprint (wasmtime
-- version and configuration): replicas of two binary versions during a rolling upgrade each
-- find their own. Rows of other engines are dropped a week after the last write of any row.
CREATE TABLE IF NOT EXISTS crypto_gaf.plugin_artifacts
(
  sha256 text NOT NULL,
  engine text NOT NULL,
  code bytea NOT NULL,
  signature bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sha256, engine)
);
-- Fetched whole, never searched: out of line and uncompressed (decompressing costs more than
-- reading here).
ALTER TABLE crypto_gaf.plugin_artifacts ALTER COLUMN code SET STORAGE EXTERNAL;

-- migration: 12 plugin canaries
-- A candidate version run in shadow on the live inputs of the active version of its name; the
-- replicas that shadow calls add what they compared to `tally`, and the first replica to see the
-- calls or the duration reached (or the candidate fail) decides: promoted (made active on every
-- replica), refused (with the reason), or cancelled. At most one canary per name runs.
CREATE TABLE IF NOT EXISTS crypto_gaf.plugin_canaries
(
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  kind text NOT NULL,
  active_version text NOT NULL,
  candidate_version text NOT NULL,
  target_calls bigint CHECK (target_calls > 0),
  duration_ms bigint CHECK (duration_ms > 0),
  tolerance jsonb NOT NULL,
  state text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'promoted', 'refused', 'cancelled')),
  reason text,
  tally jsonb NOT NULL DEFAULT '{}',
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  CHECK (target_calls IS NOT NULL OR duration_ms IS NOT NULL),
  FOREIGN KEY (name, candidate_version) REFERENCES crypto_gaf.plugins (name, version) ON DELETE CASCADE
);
CREATE UNIQUE INDEX IF NOT EXISTS plugin_canaries_one_running ON crypto_gaf.plugin_canaries (name)
  WHERE state = 'running';
CREATE INDEX IF NOT EXISTS plugin_canaries_name ON crypto_gaf.plugin_canaries (name, id);
-- A canary that starts or ends is announced like a plugin change (every replica reloads its
-- running canaries); tally updates are not.
DROP TRIGGER IF EXISTS plugin_canaries_notify ON crypto_gaf.plugin_canaries;
CREATE TRIGGER plugin_canaries_notify AFTER INSERT OR UPDATE OF state ON crypto_gaf.plugin_canaries
  FOR EACH ROW EXECUTE FUNCTION crypto_gaf.notify_plugins();

-- migration: 13 matrix sweeps started through the API
-- A matrix sweep is created `pending` by the API (`POST /api/matrices/sweeps`) and claimed by a
-- calculate worker (holder, heartbeat renewed while it runs; a sweep whose holder fell silent is
-- claimed again and its partial replays dropped), or created `running` by `cgaf sweep --matrices`,
-- which runs it itself (no holder, never claimed). Progress: combinations done of the total.
ALTER TABLE crypto_gaf.matrix_sweeps
  ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'running'
    CHECK (status IN ('pending', 'running', 'finished', 'failed')),
  ADD COLUMN IF NOT EXISTS status_reason text,
  ADD COLUMN IF NOT EXISTS holder text,
  ADD COLUMN IF NOT EXISTS heartbeat_at timestamptz,
  ADD COLUMN IF NOT EXISTS combinations_done bigint NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS combinations_total bigint;
UPDATE crypto_gaf.matrix_sweeps SET status = 'finished' WHERE finished_at IS NOT NULL AND status <> 'finished';
CREATE INDEX IF NOT EXISTS matrix_sweeps_open ON crypto_gaf.matrix_sweeps (id) WHERE status IN ('pending', 'running');

-- migration: 15 per-plugin limits
-- The call deadline and linear-memory limit one uploaded version runs under, chosen at upload
-- from what its smoke and sizing calls measured (or asked for on the upload), never above the
-- caps of the replica that stored them (each replica also caps them by its own). A version
-- without a row (a built-in, or one stored before) runs under the operator's caps.
CREATE TABLE IF NOT EXISTS crypto_gaf.plugin_limits
(
  name text NOT NULL,
  version text NOT NULL,
  call_deadline_ms bigint NOT NULL CHECK (call_deadline_ms > 0),
  memory_limit_bytes bigint NOT NULL CHECK (memory_limit_bytes > 0),
  measured_peak_memory_bytes bigint NOT NULL,
  measured_slowest_call_us bigint NOT NULL,
  requested boolean NOT NULL DEFAULT false,
  set_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, version),
  FOREIGN KEY (name, version) REFERENCES crypto_gaf.plugins (name, version) ON DELETE CASCADE
);

-- migration: 16 decision log in blocks
-- The decision log stored as blocks of consecutive rows (one per transaction a run writes: a
-- backtest's chunk of 10,000 bars, a paper run's step) instead of one database row per bar: a
-- year of 1-minute decisions was 525,600 primary-key inserts. `time_ms` and `equity` are arrays
-- (an equity curve is thinned in SQL); `data` holds the other columns, compressed by the
-- service (see cgaf_trade_domain::decision_block), so PostgreSQL stores it as it is (EXTERNAL:
-- no second compression). Rows of the former table are moved into blocks by the service when
-- it migrates (Store::migrate), and the table is dropped then.
CREATE TABLE IF NOT EXISTS crypto_gaf.decision_blocks
(
  run_id bigint NOT NULL REFERENCES crypto_gaf.runs(run_id) ON DELETE CASCADE,
  first_seq bigint NOT NULL CHECK (first_seq >= 0),
  rows integer NOT NULL CHECK (rows > 0),
  first_time_ms bigint NOT NULL,
  last_time_ms bigint NOT NULL,
  time_ms bigint[] NOT NULL,
  equity float8[] NOT NULL,
  -- every 64th row's (seq a multiple of 64) close time and equity: long curves read only these
  curve_time_ms bigint[] NOT NULL,
  curve_equity float8[] NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (run_id, first_seq)
);
ALTER TABLE crypto_gaf.decision_blocks ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE crypto_gaf.decision_blocks ALTER COLUMN time_ms SET STORAGE EXTERNAL;
ALTER TABLE crypto_gaf.decision_blocks ALTER COLUMN equity SET STORAGE EXTERNAL;

-- migration: 17 bar blocks
-- A read copy of the bars of one product, interval and partition period (a UTC day below 1m, a
-- month below 1h, a year above: exactly the period of a bars partition) as one value, so a run
-- reads a year of 1-minute bars as 12 blocks instead of 525,600 rows. The rows stay the truth:
-- a block is written only where the writer knows the period holds exactly the bars it encodes
-- (an import into a range with nothing stored around it), and every other write into a period
-- (collect, rollups, an import's merge, retention) deletes the period's block in the same
-- transaction. `data` is compressed by the service (cgaf_trade_domain::history::bar_block), so
-- PostgreSQL stores it as it is (EXTERNAL).
CREATE TABLE IF NOT EXISTS crypto_gaf.bar_blocks
(
  product text NOT NULL,
  interval_ms bigint NOT NULL CHECK (interval_ms > 0),
  -- the period [starts, ends) of close times
  starts timestamptz NOT NULL,
  ends timestamptz NOT NULL CHECK (ends > starts),
  bars integer NOT NULL CHECK (bars > 0),
  first_close timestamptz NOT NULL,
  last_close timestamptz NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (product, interval_ms, starts)
);
ALTER TABLE crypto_gaf.bar_blocks ALTER COLUMN data SET STORAGE EXTERNAL;

-- Retention: dropping a bars partition drops the block of its period.
CREATE OR REPLACE FUNCTION crypto_gaf.drop_history_partitions(p_parent text, p_interval_ms bigint, p_before timestamptz)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('cgaf_history_partitions'));
  FOR r IN SELECT name, starts, ends FROM crypto_gaf.history_partitions
           WHERE parent = p_parent AND interval_ms = p_interval_ms AND ends <= p_before ORDER BY starts LOOP
    EXECUTE format('DROP TABLE IF EXISTS crypto_gaf.%I', r.name);
    DELETE FROM crypto_gaf.history_partitions WHERE name = r.name;
    IF p_parent = 'bars' THEN
      DELETE FROM crypto_gaf.bar_blocks
      WHERE interval_ms = p_interval_ms AND starts < r.ends AND ends > r.starts;
    END IF;
    RETURN NEXT r.name;
  END LOOP;
END;
$$;

-- The advisory lock of the blocks of a product's bars of one interval: taken shared by every
-- write of bars (crypto_gaf.forget_bar_blocks) and exclusively by an import before it keeps the
-- blocks it wrote, so a block is never kept beside a write it does not hold.
CREATE OR REPLACE FUNCTION crypto_gaf.bar_blocks_lock(p_product text, p_interval_ms bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT hashtextextended(p_product || '/' || p_interval_ms::text, 17) $$;

-- What every write of bars does in its transaction, before or after writing: takes the blocks'
-- lock shared (until the transaction ends) and deletes the blocks of the periods holding closes
-- in (p_after, p_until]. Returns the blocks deleted.
CREATE OR REPLACE FUNCTION crypto_gaf.forget_bar_blocks(p_product text, p_interval_ms bigint, p_after timestamptz, p_until timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  n integer;
BEGIN
  PERFORM pg_advisory_xact_lock_shared(crypto_gaf.bar_blocks_lock(p_product, p_interval_ms));
  DELETE FROM crypto_gaf.bar_blocks
  WHERE product = p_product AND interval_ms = p_interval_ms AND starts <= p_until AND ends > p_after;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END;
$$;

-- migration: 18 imports load the partitions they make
-- The partitions of `p_parent` ('bars' for bars of p_interval_ms; 'sample_archive' with interval
-- 0) that [p_from, p_to] touches — a day per partition below 1m and for the archive, a month
-- below 1h, a year above — with name and range, oldest first, and whether each exists.
CREATE OR REPLACE FUNCTION crypto_gaf.history_partition_periods(p_parent text, p_interval_ms bigint,
                                                               p_from timestamptz, p_to timestamptz)
RETURNS TABLE (name text, starts timestamptz, ends timestamptz, made boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  period text;
  prefix text;
  t timestamp;
BEGIN
  IF p_parent = 'bars' THEN
    period := CASE WHEN p_interval_ms < 60000 THEN 'day' WHEN p_interval_ms < 3600000 THEN 'month' ELSE 'year' END;
    prefix := 'bars_' || crypto_gaf.interval_label(p_interval_ms);
  ELSIF p_parent = 'sample_archive' THEN
    period := 'day';
    prefix := 'sample_archive';
  ELSE
    RAISE EXCEPTION 'unknown history table %', p_parent;
  END IF;
  t := date_trunc(period, p_from AT TIME ZONE 'UTC');
  WHILE t <= (p_to AT TIME ZONE 'UTC') LOOP
    name := prefix || '_' || to_char(t, CASE period WHEN 'day' THEN 'YYYYMMDD' WHEN 'month' THEN 'YYYYMM' ELSE 'YYYY' END);
    starts := t AT TIME ZONE 'UTC';
    ends := (t + ('1 ' || period)::interval) AT TIME ZONE 'UTC';
    made := to_regclass('crypto_gaf.' || quote_ident(name)) IS NOT NULL;
    RETURN NEXT;
    t := t + ('1 ' || period)::interval;
  END LOOP;
END;
$$;

-- Makes the table an import loads the bars of p_product and p_interval_ms closing in
-- [p_starts, p_ends) into, in its transaction, to become their partition
-- (crypto_gaf.attach_bars_partition): the shape of crypto_gaf.bars without its key, the
-- partition's bounds as a CHECK (so attaching it needs no scan), and the columns every row of the
-- import shares as defaults (so its COPY sends only the close time, prices and volumes).
CREATE OR REPLACE FUNCTION crypto_gaf.make_loaded_bars_table(p_table text, p_product text, p_interval_ms bigint,
                                                            p_source text, p_starts timestamptz, p_ends timestamptz)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TABLE crypto_gaf.%I (LIKE crypto_gaf.bars INCLUDING CONSTRAINTS,'
                 ' CONSTRAINT %I CHECK (interval_ms = %s AND close_time >= %L AND close_time < %L))',
                 p_table, p_table || '_bounds', p_interval_ms, p_starts, p_ends);
  EXECUTE format('ALTER TABLE crypto_gaf.%I ALTER product SET DEFAULT %L, ALTER interval_ms SET DEFAULT %s,'
                 ' ALTER origin SET DEFAULT %L, ALTER source SET DEFAULT %L',
                 p_table, p_product, p_interval_ms, 'imported', p_source);
END;
$$;

-- Makes the LIST partition of the bars of p_interval_ms (the parent of their range partitions)
-- unless it exists, under the partitions' lock.
CREATE OR REPLACE FUNCTION crypto_gaf.ensure_bars_interval(p_interval_ms bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  list_name text := 'bars_' || crypto_gaf.interval_label(p_interval_ms);
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('cgaf_history_partitions'));
  IF to_regclass('crypto_gaf.' || quote_ident(list_name)) IS NULL THEN
    EXECUTE format('CREATE TABLE crypto_gaf.%I PARTITION OF crypto_gaf.bars FOR VALUES IN (%s) PARTITION BY RANGE (close_time)',
                   list_name, p_interval_ms);
  END IF;
END;
$$;

-- Attaches the table p_loaded, which an import made in its transaction and loaded with the bars
-- of p_interval_ms closing in [p_starts, p_ends) and then keyed, as the bars partition p_name of
-- that range (see crypto_gaf.history_partition_periods). Keying the rows once is what makes an
-- import fast: COPY into an existing partition maintains the key row by row. The interval's
-- LIST partition is locked first (SHARE UPDATE EXCLUSIVE, as ATTACH PARTITION locks it; reads and
-- writes go on), so no other transaction makes the same partition until this one ends; when one
-- made it before, the rows are inserted into it instead and p_loaded is dropped. Not under the
-- partitions' advisory lock: a partition maker holding it may be waiting for this transaction's
-- writes. Returns true when p_loaded became the partition.
CREATE OR REPLACE FUNCTION crypto_gaf.attach_bars_partition(p_interval_ms bigint, p_loaded text, p_name text,
                                                           p_starts timestamptz, p_ends timestamptz)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  list_name text := 'bars_' || crypto_gaf.interval_label(p_interval_ms);
BEGIN
  EXECUTE format('LOCK TABLE crypto_gaf.%I IN SHARE UPDATE EXCLUSIVE MODE', list_name);
  IF to_regclass('crypto_gaf.' || quote_ident(p_name)) IS NOT NULL THEN
    EXECUTE format('INSERT INTO crypto_gaf.bars SELECT * FROM crypto_gaf.%I', p_loaded);
    EXECUTE format('DROP TABLE crypto_gaf.%I', p_loaded);
    RETURN false;
  END IF;
  EXECUTE format('ALTER TABLE crypto_gaf.%I RENAME TO %I', p_loaded, p_name);
  IF to_regclass('crypto_gaf.' || quote_ident(p_loaded || '_pkey')) IS NOT NULL THEN
    EXECUTE format('ALTER INDEX crypto_gaf.%I RENAME TO %I', p_loaded || '_pkey', p_name || '_pkey');
  END IF;
  EXECUTE format('ALTER TABLE crypto_gaf.%I ATTACH PARTITION crypto_gaf.%I FOR VALUES FROM (%L) TO (%L)',
                 list_name, p_name, p_starts, p_ends);
  -- What only the load needed: a partition looks like any other once attached.
  EXECUTE format('ALTER TABLE crypto_gaf.%I DROP CONSTRAINT IF EXISTS %I, ALTER product DROP DEFAULT,'
                 ' ALTER interval_ms DROP DEFAULT, ALTER origin DROP DEFAULT, ALTER source DROP DEFAULT',
                 p_name, p_loaded || '_bounds');
  INSERT INTO crypto_gaf.history_partitions (name, parent, interval_ms, starts, ends)
  VALUES (p_name, 'bars', p_interval_ms, p_starts, p_ends)
  ON CONFLICT (name) DO NOTHING;
  RETURN true;
END;
$$;

-- As in migration 6, with the periods from crypto_gaf.history_partition_periods, and a partition
-- that an import attached while this waited for the parent's lock counts as made (it exists;
-- the import registered it).
CREATE OR REPLACE FUNCTION crypto_gaf.ensure_history_partitions(p_parent text, p_interval_ms bigint, p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  parent_table text := CASE p_parent WHEN 'bars' THEN 'bars_' || crypto_gaf.interval_label(p_interval_ms) ELSE p_parent END;
  p record;
  created integer := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('cgaf_history_partitions'));
  IF p_parent = 'bars' THEN
    PERFORM crypto_gaf.ensure_bars_interval(p_interval_ms);
  END IF;
  FOR p IN SELECT pp.name, pp.starts, pp.ends
           FROM crypto_gaf.history_partition_periods(p_parent, p_interval_ms, p_from, p_to) AS pp
           WHERE NOT pp.made LOOP
    BEGIN
      EXECUTE format('CREATE TABLE crypto_gaf.%I PARTITION OF crypto_gaf.%I FOR VALUES FROM (%L) TO (%L)',
                     p.name, parent_table, p.starts, p.ends);
      INSERT INTO crypto_gaf.history_partitions (name, parent, interval_ms, starts, ends)
      VALUES (p.name, p_parent, p_interval_ms, p.starts, p.ends)
      ON CONFLICT (name) DO NOTHING;
      created := created + 1;
    EXCEPTION WHEN duplicate_table OR invalid_object_definition THEN
      NULL;
    END;
  END LOOP;
  RETURN created;
END;
$$;

-- migration: 19 imports load their new partitions on connections of their own
-- An import loads the tables of the partitions it makes (crypto_gaf.make_loaded_bars_table) on
-- connections of its own, each in a transaction of its own that commits the loaded tables before
-- the import's transaction attaches them; so the tables are named after the import's load
-- (<partition>_load_<load>), and the import's transaction holds the load's advisory lock until
-- it ends. A loaded table whose load's lock is free was left by an import that failed or died.
CREATE SEQUENCE IF NOT EXISTS crypto_gaf.partition_loads AS integer CYCLE;

-- Drops the loaded tables of loads whose import's transaction has ended (their lock is free);
-- returns how many.
CREATE OR REPLACE FUNCTION crypto_gaf.drop_abandoned_partition_loads()
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  dropped integer := 0;
BEGIN
  FOR r IN SELECT c.relname::text AS name, substring(c.relname FROM '_load_([0-9]+)$')::integer AS load
           FROM pg_class c
           WHERE c.relnamespace = 'crypto_gaf'::regnamespace AND c.relkind = 'r' AND NOT c.relispartition
             AND c.relname ~ '_load_[0-9]+$' LOOP
    IF pg_try_advisory_xact_lock(hashtext('cgaf_partition_load'), r.load) THEN
      EXECUTE format('DROP TABLE IF EXISTS crypto_gaf.%I', r.name);
      dropped := dropped + 1;
    END IF;
  END LOOP;
  RETURN dropped;
END;
$$;

-- Begins a load in the calling transaction: drops abandoned loaded tables, then takes a new
-- load number and holds its lock to the end of the transaction. Returns the number.
CREATE OR REPLACE FUNCTION crypto_gaf.begin_partition_load()
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  load integer;
BEGIN
  PERFORM crypto_gaf.drop_abandoned_partition_loads();
  load := nextval('crypto_gaf.partition_loads');
  PERFORM pg_advisory_xact_lock(hashtext('cgaf_partition_load'), load);
  RETURN load;
END;
$$;

-- migration: 20 no statistics on the decision log's arrays and data
-- ANALYZE read every stored block's close times and equity (arrays of 10,000 values, 80 kB each)
-- out of TOAST to compute statistics nothing plans with (the log is read by run and seq): an
-- autovacuum ANALYZE of the table took 0.65-1.2 CPU-s with ~110 runs stored, growing with every
-- run up to 30,000 sampled blocks, and ran beside the runs. Without statistics on these columns it
-- takes ~8 ms; the keys and the first and last times keep theirs.
ALTER TABLE crypto_gaf.decision_blocks
  ALTER COLUMN time_ms SET STATISTICS 0,
  ALTER COLUMN equity SET STATISTICS 0,
  ALTER COLUMN curve_time_ms SET STATISTICS 0,
  ALTER COLUMN curve_equity SET STATISTICS 0,
  ALTER COLUMN data SET STATISTICS 0;

-- migration: 21 partition makers do not queue behind an import
-- An import attaches each table it loaded as soon as its period is complete, and holds the
-- interval partitions it attaches to (bars_1m, ...) in SHARE UPDATE EXCLUSIVE mode from its first
-- attach to its commit. Making or dropping a partition of one needs ACCESS EXCLUSIVE on it: queued
-- behind the import, that request would hold up every read and write of those bars (PostgreSQL
-- queues later lock requests behind it) until the import commits. Makers and retention now take
-- that lock without queueing: they try, and while a conflicting lock is held, wait 20 ms and try
-- again.
CREATE OR REPLACE FUNCTION crypto_gaf.lock_without_queueing(p_table regclass, p_mode text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  LOOP
    BEGIN
      EXECUTE format('LOCK TABLE %s IN %s MODE NOWAIT', p_table, p_mode);
      RETURN;
    EXCEPTION WHEN lock_not_available THEN
      PERFORM pg_sleep(0.02);
    END;
  END LOOP;
END;
$$;

-- As in migration 6, making the LIST partition without queueing for the bars' lock.
CREATE OR REPLACE FUNCTION crypto_gaf.ensure_bars_interval(p_interval_ms bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  list_name text := 'bars_' || crypto_gaf.interval_label(p_interval_ms);
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('cgaf_history_partitions'));
  IF to_regclass('crypto_gaf.' || quote_ident(list_name)) IS NULL THEN
    PERFORM crypto_gaf.lock_without_queueing('crypto_gaf.bars', 'ACCESS EXCLUSIVE');
    EXECUTE format('CREATE TABLE crypto_gaf.%I PARTITION OF crypto_gaf.bars FOR VALUES IN (%s) PARTITION BY RANGE (close_time)',
                   list_name, p_interval_ms);
  END IF;
END;
$$;

-- As in migration 18, taking the parent's lock without queueing when there is a partition to make.
CREATE OR REPLACE FUNCTION crypto_gaf.ensure_history_partitions(p_parent text, p_interval_ms bigint, p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  parent_table text := CASE p_parent WHEN 'bars' THEN 'bars_' || crypto_gaf.interval_label(p_interval_ms) ELSE p_parent END;
  p record;
  created integer := 0;
  locked boolean := false;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('cgaf_history_partitions'));
  IF p_parent = 'bars' THEN
    PERFORM crypto_gaf.ensure_bars_interval(p_interval_ms);
  END IF;
  FOR p IN SELECT pp.name, pp.starts, pp.ends
           FROM crypto_gaf.history_partition_periods(p_parent, p_interval_ms, p_from, p_to) AS pp
           WHERE NOT pp.made LOOP
    IF NOT locked THEN
      PERFORM crypto_gaf.lock_without_queueing(format('crypto_gaf.%I', parent_table)::regclass, 'ACCESS EXCLUSIVE');
      locked := true;
    END IF;
    BEGIN
      EXECUTE format('CREATE TABLE crypto_gaf.%I PARTITION OF crypto_gaf.%I FOR VALUES FROM (%L) TO (%L)',
                     p.name, parent_table, p.starts, p.ends);
      INSERT INTO crypto_gaf.history_partitions (name, parent, interval_ms, starts, ends)
      VALUES (p.name, p_parent, p_interval_ms, p.starts, p.ends)
      ON CONFLICT (name) DO NOTHING;
      created := created + 1;
    EXCEPTION WHEN duplicate_table OR invalid_object_definition THEN
      NULL;
    END;
  END LOOP;
  RETURN created;
END;
$$;

-- As in migration 17, taking the parent's lock without queueing when there is a partition to drop.
CREATE OR REPLACE FUNCTION crypto_gaf.drop_history_partitions(p_parent text, p_interval_ms bigint, p_before timestamptz)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  parent_table text := CASE p_parent WHEN 'bars' THEN 'bars_' || crypto_gaf.interval_label(p_interval_ms) ELSE p_parent END;
  r record;
  locked boolean := false;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('cgaf_history_partitions'));
  FOR r IN SELECT name, starts, ends FROM crypto_gaf.history_partitions
           WHERE parent = p_parent AND interval_ms = p_interval_ms AND ends <= p_before ORDER BY starts LOOP
    IF NOT locked AND to_regclass('crypto_gaf.' || quote_ident(parent_table)) IS NOT NULL THEN
      PERFORM crypto_gaf.lock_without_queueing(format('crypto_gaf.%I', parent_table)::regclass, 'ACCESS EXCLUSIVE');
      locked := true;
    END IF;
    EXECUTE format('DROP TABLE IF EXISTS crypto_gaf.%I', r.name);
    DELETE FROM crypto_gaf.history_partitions WHERE name = r.name;
    IF p_parent = 'bars' THEN
      DELETE FROM crypto_gaf.bar_blocks
      WHERE interval_ms = p_interval_ms AND starts < r.ends AND ends > r.starts;
    END IF;
    RETURN NEXT r.name;
  END LOOP;
END;
$$;

-- migration: 22 a partition per year from 5-minute bars up
-- A month of 5- or 15-minute bars is 8,928 or 2,976 rows: partitions that small cost an import a
-- table, its files, its key and its attach each (24 of the 43 a year of 1-minute bars and its
-- rollups made). From 5m up a partition now holds a year (105,120 rows of 5m bars), as from 1h
-- up it did. A year that already has month partitions of the interval (made before this
-- migration) keeps getting month partitions, so that no two overlap.
CREATE OR REPLACE FUNCTION crypto_gaf.history_partition_periods(p_parent text, p_interval_ms bigint,
                                                               p_from timestamptz, p_to timestamptz)
RETURNS TABLE (name text, starts timestamptz, ends timestamptz, made boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  period text;
  prefix text;
  t timestamp;
  m timestamp;
BEGIN
  IF p_parent = 'bars' THEN
    period := CASE WHEN p_interval_ms < 60000 THEN 'day' WHEN p_interval_ms < 300000 THEN 'month' ELSE 'year' END;
    prefix := 'bars_' || crypto_gaf.interval_label(p_interval_ms);
  ELSIF p_parent = 'sample_archive' THEN
    period := 'day';
    prefix := 'sample_archive';
  ELSE
    RAISE EXCEPTION 'unknown history table %', p_parent;
  END IF;
  t := date_trunc(period, p_from AT TIME ZONE 'UTC');
  WHILE t <= (p_to AT TIME ZONE 'UTC') LOOP
    IF period = 'year' AND p_interval_ms < 3600000 AND EXISTS (
         SELECT 1 FROM crypto_gaf.history_partitions hp
         WHERE hp.parent = p_parent AND hp.interval_ms = p_interval_ms
           AND hp.starts >= t AT TIME ZONE 'UTC' AND hp.ends <= (t + interval '1 year') AT TIME ZONE 'UTC'
           AND hp.ends - hp.starts < interval '1 year') THEN
      -- Months, as before migration 22, for the months of this year in range.
      m := greatest(t, date_trunc('month', p_from AT TIME ZONE 'UTC'));
      WHILE m < t + interval '1 year' AND m <= (p_to AT TIME ZONE 'UTC') LOOP
        name := prefix || '_' || to_char(m, 'YYYYMM');
        starts := m AT TIME ZONE 'UTC';
        ends := (m + interval '1 month') AT TIME ZONE 'UTC';
        made := to_regclass('crypto_gaf.' || quote_ident(name)) IS NOT NULL;
        RETURN NEXT;
        m := m + interval '1 month';
      END LOOP;
    ELSE
      name := prefix || '_' || to_char(t, CASE period WHEN 'day' THEN 'YYYYMMDD' WHEN 'month' THEN 'YYYYMM' ELSE 'YYYY' END);
      starts := t AT TIME ZONE 'UTC';
      ends := (t + ('1 ' || period)::interval) AT TIME ZONE 'UTC';
      made := to_regclass('crypto_gaf.' || quote_ident(name)) IS NOT NULL;
      RETURN NEXT;
    END IF;
    t := t + ('1 ' || period)::interval;
  END LOOP;
END;
$$;
