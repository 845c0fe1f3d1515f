// Cloudflare Worker (ES module): edgeguard in front of an origin.
// Policy: config.json next to this folder (bundled), the same JSON config the Envoy filter uses.
// Bindings (all optional):
//   EDGEGUARD_CONFIG  a config (string or object) that replaces the bundled one
//   ORIGIN            optional service binding to the origin; without it the request goes to
//                     `fetch()` (on Cloudflare: the zone's origin)
//   EDGEGUARD_EXPOSE_RULE  "1" adds x-edgeguard-rule to upstream requests (debugging/tests)
//   any secret/var    referenced by the config as {"env": "NAME"} (e.g. an API-key pepper)
// Rate limits, lockouts and replay caches are per isolate in this build (see README).
import bundledConfig from "../config.json";
import { engineFor, guard } from "./guard.js";

export default {
  async fetch(request, env) {
    let engine;
    try {
      engine = engineFor(env.EDGEGUARD_CONFIG ?? bundledConfig, env);
    } catch (e) {
      // A bad config never half-applies: every request is refused until it is fixed.
      console.error(JSON.stringify({ event: "config_error", error: e.message }));
      return new Response(JSON.stringify({ error: "edgeguard configuration invalid", status: 503 }), {
        status: 503,
        headers: { "content-type": "application/json" },
      });
    }
    const origin = env.ORIGIN ? (req) => env.ORIGIN.fetch(req) : (req) => fetch(req);
    return guard(engine, request, origin, { exposeRule: env.EDGEGUARD_EXPOSE_RULE === "1" });
  },
};
