// The test origin: echoes what reached it as JSON, so tests can see the edge's header changes.
// `/sensitive` answers a record with personal data (for masking cases); `/records` a ~7 KiB
// JSON list where ~5% of the fields are sensitive (the masked-response benchmark).
const RECORDS = JSON.stringify({
  items: Array.from({ length: 40 }, (_, i) => ({
    id: 1000 + i,
    name: `widget ${i}`,
    sku: `SKU-${(i * 7919) % 100000}`,
    qty: i % 13,
    price: 9.5 + i,
    created: `2026-11-${String(1 + (i % 28)).padStart(2, "0")}T10:00:00Z`,
    status: i % 3 ? "active" : "paused",
    region: ["eu-west", "us-east", "ap-south"][i % 3],
    notes: "ships in two days",
    ...(i % 2 === 0 ? { email: `buyer${i}@example.com` } : {}),
  })),
});

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/records") {
      return new Response(RECORDS, { headers: { "content-type": "application/json", server: "origin/1.0" } });
    }
    if (url.pathname === "/sensitive") {
      return Response.json({
        name: "Ada",
        email: "ada@example.com",
        phone: "+1 415 555 0100",
        card: "4111111111111111",
        ssn: "123-45-6789",
      }, { headers: { server: "origin/1.0" } });
    }
    const body = request.body ? await request.text() : "";
    return Response.json(
      {
        origin: true,
        method: request.method,
        url: request.url,
        headers: Object.fromEntries(request.headers),
        body,
      },
      { headers: { server: "origin/1.0", "x-origin": "yes" } },
    );
  },
};
