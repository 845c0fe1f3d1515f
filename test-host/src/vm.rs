//! One VM: a compiled module instantiated in its own `Store<HostState>`, with typed handles
//! to the module's exported callbacks. The module is compiled once ([`CompiledModule`]) and
//! instantiated per worker.

use crate::abi;
use crate::error::HostError;
use crate::state::{HostState, PluginSettings, SharedHost};
use std::sync::Arc;
use wasmtime::{
    Config, Engine, Instance, InstancePre, Linker, Module, Store, StoreLimitsBuilder, TypedFunc,
};

/// The ABI versions this host accepts (0.2.1 and its 0.2.0 predecessor, which Envoy also runs).
pub const ABI_VERSIONS: [&str; 2] = ["proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0"];

/// Fuel given to a callback when no budget is set (effectively unlimited).
pub const UNLIMITED_FUEL: u64 = u64::MAX / 4;

/// A module compiled once, ready to be instantiated for any number of workers.
pub struct CompiledModule {
    engine: Engine,
    pre: InstancePre<HostState>,
    /// The ABI version export found.
    pub abi_version: String,
    /// Where it came from (path or a label).
    pub source: String,
    /// Imports the host lacks (only non-empty in lenient mode; they trap when called).
    pub unknown_imports: Vec<String>,
}

impl CompiledModule {
    /// Read and compile a module file (`.wasm`, or `.wat` text).
    pub fn from_file(path: &std::path::Path, strict: bool) -> Result<CompiledModule, HostError> {
        let bytes = std::fs::read(path).map_err(|e| HostError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        CompiledModule::from_bytes(&bytes, &path.display().to_string(), strict)
    }

    /// Compile module bytes (binary or WAT text). `strict`: refuse a module importing a host
    /// function this host lacks, naming it; otherwise such imports trap when called.
    pub fn from_bytes(
        bytes: &[u8],
        source: &str,
        strict: bool,
    ) -> Result<CompiledModule, HostError> {
        let mut config = Config::new();
        config.consume_fuel(true);
        let engine = Engine::new(&config).map_err(|e| HostError::Instantiate {
            reason: e.to_string(),
        })?;
        let module = Module::new(&engine, bytes).map_err(|e| HostError::NotWasm {
            source: source.to_string(),
            reason: format!("{e:#}"),
        })?;
        let abi_exports: Vec<String> = module
            .exports()
            .map(|e| e.name().to_string())
            .filter(|n| n.starts_with("proxy_abi_version_"))
            .collect();
        let Some(abi_version) = abi_exports
            .iter()
            .find(|n| ABI_VERSIONS.contains(&n.as_str()))
            .cloned()
        else {
            return Err(HostError::NotProxyWasm { found: abi_exports });
        };
        let mut linker: Linker<HostState> = Linker::new(&engine);
        abi::add_to_linker(&mut linker).map_err(|e| HostError::Instantiate {
            reason: e.to_string(),
        })?;
        let mut unknown_imports = Vec::new();
        let mut probe = Store::new(
            &engine,
            HostState::new(
                0,
                Arc::default(),
                Arc::default(),
                wasmtime::StoreLimits::default(),
            ),
        );
        let provided: Vec<(String, String)> = linker
            .iter(&mut probe)
            .map(|(m, n, _)| (m.to_string(), n.to_string()))
            .collect();
        for import in module.imports() {
            if !matches!(import.ty(), wasmtime::ExternType::Func(_)) {
                continue;
            }
            let known = provided
                .iter()
                .any(|(m, n)| m == import.module() && n == import.name());
            if !known {
                if strict {
                    return Err(HostError::MissingImport {
                        module: import.module().to_string(),
                        name: import.name().to_string(),
                    });
                }
                unknown_imports.push(format!("{}.{}", import.module(), import.name()));
            }
        }
        if !strict {
            linker
                .define_unknown_imports_as_traps(&module)
                .map_err(|e| HostError::Instantiate {
                    reason: e.to_string(),
                })?;
        }
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| HostError::Instantiate {
                reason: format!("{e:#}"),
            })?;
        Ok(CompiledModule {
            engine,
            pre,
            abi_version,
            source: source.to_string(),
            unknown_imports,
        })
    }

    /// The names of the functions the module imports, as `module.name`.
    pub fn imports(&self) -> Vec<String> {
        self.pre
            .module()
            .imports()
            .map(|i| format!("{}.{}", i.module(), i.name()))
            .collect()
    }
}

type F1 = TypedFunc<i32, ()>;
type F1R = TypedFunc<i32, i32>;
type F2 = TypedFunc<(i32, i32), ()>;
type F2R = TypedFunc<(i32, i32), i32>;
type F3R = TypedFunc<(i32, i32, i32), i32>;
type F5 = TypedFunc<(i32, i32, i32, i32, i32), ()>;

#[derive(Default)]
struct Callbacks {
    on_vm_start: Option<F2R>,
    on_configure: Option<F2R>,
    on_context_create: Option<F2>,
    on_request_headers: Option<F3R>,
    on_request_body: Option<F3R>,
    on_request_trailers: Option<F2R>,
    on_response_headers: Option<F3R>,
    on_response_body: Option<F3R>,
    on_response_trailers: Option<F2R>,
    on_done: Option<F1R>,
    on_log: Option<F1>,
    on_delete: Option<F1>,
    on_tick: Option<F1>,
    on_http_call_response: Option<F5>,
    on_queue_ready: Option<F2>,
}

/// Limits for one VM.
#[derive(Debug, Clone, Copy, Default)]
pub struct VmLimits {
    /// Fuel per callback (`None` = unlimited).
    pub fuel_per_callback: Option<u64>,
    /// Maximum linear memory in bytes (`None` = wasm's own limit).
    pub max_memory: Option<usize>,
}

/// One running VM (Envoy runs one per worker thread).
pub struct Vm {
    store: Store<HostState>,
    instance: Instance,
    cbs: Callbacks,
    limits: VmLimits,
    /// Fuel used by all callbacks so far.
    pub fuel_used: u64,
    /// Most fuel one callback used.
    pub max_callback_fuel: u64,
    /// Name of the callback that used the most fuel.
    pub max_fuel_callback: &'static str,
    /// Linear-memory high-water mark in bytes.
    pub peak_memory: usize,
    /// Callbacks run.
    pub callbacks_run: u64,
    /// Longest wall time one callback took, in ns (for bench budgets only).
    pub max_callback_nanos: u64,
    /// When `Some`, every callback's wall time in ns is appended (bench only).
    pub callback_nanos: Option<Vec<u64>>,
}

/// What the host must do after a callback returned.
pub type Action = i32;
/// `Action::Continue`.
pub const CONTINUE: Action = 0;
/// `Action::Pause`.
pub const PAUSE: Action = 1;

macro_rules! getf {
    ($inst:expr, $store:expr, $name:literal) => {
        $inst.get_typed_func(&mut $store, $name).ok()
    };
}

impl Vm {
    /// Instantiate `module` for worker `worker` and run `_initialize`/`_start` (not the proxy
    /// callbacks: see [`Vm::start`]).
    pub fn new(
        module: &CompiledModule,
        worker: usize,
        shared: Arc<SharedHost>,
        settings: Arc<PluginSettings>,
        limits: VmLimits,
    ) -> Result<Vm, HostError> {
        let mut b = StoreLimitsBuilder::new();
        if let Some(m) = limits.max_memory {
            b = b.memory_size(m);
        }
        let state = HostState::new(worker, shared, settings, b.build());
        let mut store = Store::new(&module.engine, state);
        store.limiter(|s| &mut s.limits);
        let _ = store.set_fuel(limits.fuel_per_callback.unwrap_or(UNLIMITED_FUEL));
        let instance = module
            .pre
            .instantiate(&mut store)
            .map_err(|e| HostError::Instantiate {
                reason: format!("{e:#}"),
            })?;
        let cbs = Callbacks {
            on_vm_start: getf!(instance, store, "proxy_on_vm_start"),
            on_configure: getf!(instance, store, "proxy_on_configure"),
            on_context_create: getf!(instance, store, "proxy_on_context_create"),
            on_request_headers: getf!(instance, store, "proxy_on_request_headers"),
            on_request_body: getf!(instance, store, "proxy_on_request_body"),
            on_request_trailers: getf!(instance, store, "proxy_on_request_trailers"),
            on_response_headers: getf!(instance, store, "proxy_on_response_headers"),
            on_response_body: getf!(instance, store, "proxy_on_response_body"),
            on_response_trailers: getf!(instance, store, "proxy_on_response_trailers"),
            on_done: getf!(instance, store, "proxy_on_done"),
            on_log: getf!(instance, store, "proxy_on_log"),
            on_delete: getf!(instance, store, "proxy_on_delete"),
            on_tick: getf!(instance, store, "proxy_on_tick"),
            on_http_call_response: getf!(instance, store, "proxy_on_http_call_response"),
            on_queue_ready: getf!(instance, store, "proxy_on_queue_ready"),
        };
        let mut vm = Vm {
            store,
            instance,
            cbs,
            limits,
            fuel_used: 0,
            max_callback_fuel: 0,
            max_fuel_callback: "",
            peak_memory: 0,
            callbacks_run: 0,
            max_callback_nanos: 0,
            callback_nanos: None,
        };
        // Reactor modules (wasip1 cdylib) export `_initialize`; older ones `_start`.
        let init: Option<(&'static str, TypedFunc<(), ()>)> =
            match getf!(vm.instance, vm.store, "_initialize") {
                Some(f) => Some(("_initialize", f)),
                None => getf!(vm.instance, vm.store, "_start").map(|f| ("_start", f)),
            };
        if let Some((name, f)) = init {
            vm.run(name, 1, |s| f.call(s, ()))?;
        }
        Ok(vm)
    }

    /// Run the root context's start: create root context `root_id`, `proxy_on_vm_start`,
    /// `proxy_on_configure`. A `false` from either is [`HostError::StartRefused`].
    pub fn start(&mut self, root_id: u32) -> Result<(), HostError> {
        self.store.data_mut().root_context_id = root_id;
        if let Some(f) = self.cbs.on_context_create.clone() {
            self.run("proxy_on_context_create", root_id, |s| {
                f.call(s, (root_id as i32, 0))
            })?;
        }
        let vm_len = self.store.data().settings.vm_config.len() as i32;
        if let Some(f) = self.cbs.on_vm_start.clone() {
            let ok = self.run("proxy_on_vm_start", root_id, |s| {
                f.call(s, (root_id as i32, vm_len))
            })?;
            if ok == 0 {
                return Err(HostError::StartRefused {
                    callback: "proxy_on_vm_start".into(),
                });
            }
        }
        let cfg_len = self.store.data().settings.plugin_config.len() as i32;
        if let Some(f) = self.cbs.on_configure.clone() {
            let ok = self.run("proxy_on_configure", root_id, |s| {
                f.call(s, (root_id as i32, cfg_len))
            })?;
            if ok == 0 {
                return Err(HostError::StartRefused {
                    callback: "proxy_on_configure".into(),
                });
            }
        }
        Ok(())
    }

    /// Host state (streams, dispatched calls, tick period...).
    pub fn state(&self) -> &HostState {
        self.store.data()
    }

    /// Mutable host state.
    pub fn state_mut(&mut self) -> &mut HostState {
        self.store.data_mut()
    }

    /// Forget fuel, time and memory statistics (e.g. after a warm-up), and start recording
    /// every callback's wall time when `record_timings`.
    pub fn reset_stats(&mut self, record_timings: bool) {
        self.fuel_used = 0;
        self.max_callback_fuel = 0;
        self.max_fuel_callback = "";
        self.max_callback_nanos = 0;
        self.callbacks_run = 0;
        self.callback_nanos = if record_timings {
            Some(Vec::new())
        } else {
            None
        };
    }

    /// Current linear-memory size in bytes.
    pub fn memory_size(&mut self) -> usize {
        match self.instance.get_memory(&mut self.store, "memory") {
            Some(m) => m.data_size(&self.store),
            None => 0,
        }
    }

    /// Run one guest callback with `context` effective, accounting fuel and memory and
    /// mapping traps to [`HostError`] naming the callback.
    fn run<R>(
        &mut self,
        name: &'static str,
        context: u32,
        f: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, HostError> {
        let budget = self.limits.fuel_per_callback.unwrap_or(UNLIMITED_FUEL);
        let _ = self.store.set_fuel(budget);
        {
            let st = self.store.data_mut();
            st.callback = name;
            st.effective_context = context;
        }
        let started = std::time::Instant::now();
        let result = f(&mut self.store);
        let took = started.elapsed().as_nanos() as u64;
        self.max_callback_nanos = self.max_callback_nanos.max(took);
        if let Some(t) = self.callback_nanos.as_mut() {
            t.push(took);
        }
        let used = budget.saturating_sub(self.store.get_fuel().unwrap_or(0));
        self.fuel_used = self.fuel_used.saturating_add(used);
        if used > self.max_callback_fuel {
            self.max_callback_fuel = used;
            self.max_fuel_callback = name;
        }
        self.callbacks_run += 1;
        let mem = self.memory_size();
        self.peak_memory = self.peak_memory.max(mem);
        self.store.data_mut().callback = "";
        match result {
            Ok(r) => Ok(r),
            Err(e) => {
                if let Some(wasmtime::Trap::OutOfFuel) = e.downcast_ref::<wasmtime::Trap>() {
                    return Err(HostError::OutOfFuel {
                        callback: name.to_string(),
                        limit: budget,
                    });
                }
                Err(HostError::Trap {
                    callback: name.to_string(),
                    reason: format!("{e:#}"),
                })
            }
        }
    }

    /// `proxy_on_context_create(context, parent)`.
    pub fn on_context_create(&mut self, context: u32, parent: u32) -> Result<(), HostError> {
        match self.cbs.on_context_create.clone() {
            Some(f) => self.run("proxy_on_context_create", context, |s| {
                f.call(s, (context as i32, parent as i32))
            }),
            None => Ok(()),
        }
    }

    /// `proxy_on_request_headers` / `proxy_on_response_headers` (`response` picks which).
    pub fn on_headers(
        &mut self,
        context: u32,
        response: bool,
        count: usize,
        end_of_stream: bool,
    ) -> Result<Action, HostError> {
        let (f, name) = if response {
            (
                self.cbs.on_response_headers.clone(),
                "proxy_on_response_headers",
            )
        } else {
            (
                self.cbs.on_request_headers.clone(),
                "proxy_on_request_headers",
            )
        };
        match f {
            Some(f) => self.run(name, context, |s| {
                f.call(s, (context as i32, count as i32, i32::from(end_of_stream)))
            }),
            None => Ok(CONTINUE),
        }
    }

    /// `proxy_on_request_body` / `proxy_on_response_body`.
    pub fn on_body(
        &mut self,
        context: u32,
        response: bool,
        size: usize,
        end_of_stream: bool,
    ) -> Result<Action, HostError> {
        let (f, name) = if response {
            (self.cbs.on_response_body.clone(), "proxy_on_response_body")
        } else {
            (self.cbs.on_request_body.clone(), "proxy_on_request_body")
        };
        match f {
            Some(f) => self.run(name, context, |s| {
                f.call(s, (context as i32, size as i32, i32::from(end_of_stream)))
            }),
            None => Ok(CONTINUE),
        }
    }

    /// `proxy_on_request_trailers` / `proxy_on_response_trailers`.
    pub fn on_trailers(
        &mut self,
        context: u32,
        response: bool,
        count: usize,
    ) -> Result<Action, HostError> {
        let (f, name) = if response {
            (
                self.cbs.on_response_trailers.clone(),
                "proxy_on_response_trailers",
            )
        } else {
            (
                self.cbs.on_request_trailers.clone(),
                "proxy_on_request_trailers",
            )
        };
        match f {
            Some(f) => self.run(name, context, |s| f.call(s, (context as i32, count as i32))),
            None => Ok(CONTINUE),
        }
    }

    /// End of a stream: `proxy_on_done`, `proxy_on_log`, `proxy_on_delete`.
    pub fn finish_context(&mut self, context: u32) -> Result<(), HostError> {
        if let Some(f) = self.cbs.on_done.clone() {
            self.run("proxy_on_done", context, |s| f.call(s, context as i32))?;
        }
        if let Some(f) = self.cbs.on_log.clone() {
            self.run("proxy_on_log", context, |s| f.call(s, context as i32))?;
        }
        if let Some(f) = self.cbs.on_delete.clone() {
            self.run("proxy_on_delete", context, |s| f.call(s, context as i32))?;
        }
        Ok(())
    }

    /// `proxy_on_tick(root)`.
    pub fn on_tick(&mut self) -> Result<(), HostError> {
        let root = self.store.data().root_context_id;
        match self.cbs.on_tick.clone() {
            Some(f) => self.run("proxy_on_tick", root, |s| f.call(s, root as i32)),
            None => Ok(()),
        }
    }

    /// `proxy_on_queue_ready(root, queue)`.
    pub fn on_queue_ready(&mut self, root: u32, queue: u32) -> Result<(), HostError> {
        match self.cbs.on_queue_ready.clone() {
            Some(f) => self.run("proxy_on_queue_ready", root, |s| {
                f.call(s, (root as i32, queue as i32))
            }),
            None => Ok(()),
        }
    }

    /// `proxy_on_http_call_response(context, token, headers, body size, trailers)`.
    pub fn on_http_call_response(
        &mut self,
        context: u32,
        token: u32,
        headers: usize,
        body: usize,
        trailers: usize,
    ) -> Result<(), HostError> {
        match self.cbs.on_http_call_response.clone() {
            Some(f) => self.run("proxy_on_http_call_response", context, |s| {
                f.call(
                    s,
                    (
                        context as i32,
                        token as i32,
                        headers as i32,
                        body as i32,
                        trailers as i32,
                    ),
                )
            }),
            None => Ok(()),
        }
    }
}
