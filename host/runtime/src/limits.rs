//! Per-store resource limits: linear memory, tables, instances.

/// A resource limiter that remembers whether the memory cap was hit, so a trap caused by a
/// failed allocation is reported as [`crate::Error::MemoryLimit`].
#[derive(Debug, Clone)]
pub struct Limiter {
    /// Largest linear memory, bytes.
    pub memory_limit: usize,
    /// Largest table, elements.
    pub table_limit: usize,
    /// Set when a memory grow was refused.
    pub memory_limit_hit: bool,
    /// Largest linear memory granted so far, bytes (the instance's peak).
    pub peak_memory: usize,
}

impl Limiter {
    /// A limiter with `memory_limit` bytes of linear memory.
    pub fn new(memory_limit: usize) -> Self {
        Self { memory_limit, table_limit: 100_000, memory_limit_hit: false, peak_memory: 0 }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.memory_limit_hit = true;
            return Ok(false);
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_limit)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        16
    }

    fn memories(&self) -> usize {
        4
    }
}
