// The test origin: echoes what reached it as JSON, so tests can see the edge's header changes.
// `/sensitive` answers a record with personal data (for masking cases).
export default {
  async fetch(request) {
    const url = new URL(request.url);
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
