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
