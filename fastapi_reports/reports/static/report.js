// Live progress of one report: Server-Sent Events, with polling where they fail.
(() => {
  const section = document.getElementById("report");
  if (!section) return;
  const finished = new Set(["done", "failed", "cancelled"]);
  const show = (name, text) => {
    section.querySelector(`[data-testid="${name}"]`).textContent = text;
  };

  function render(report) {
    document.getElementById("progress").value = report.percent;
    show("percent", `${report.percent} %`);
    show("status", report.status);
    show("message", report.message);
    show("row-count", report.row_count ?? "–");
    show("source-rows", report.source_rows ?? "–");
    document.getElementById("download").hidden = report.status !== "done";
    const cancel = document.getElementById("cancel");
    if (cancel && finished.has(report.status)) cancel.hidden = true;
    document.getElementById("retry").hidden = report.status !== "failed";
    return finished.has(report.status);
  }

  function poll() {
    fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" } })
      .then((response) => response.json())
      .then((report) => { if (!render(report)) setTimeout(poll, 1000); })
      .catch(() => setTimeout(poll, 3000));
  }

  if (finished.has(section.querySelector('[data-testid="status"]').textContent)) return;
  if (!("EventSource" in window)) { poll(); return; }
  const events = new EventSource(section.dataset.events);
  events.addEventListener("progress", (event) => {
    // Close on the last event, or the browser would reconnect to a finished stream.
    if (render(JSON.parse(event.data))) events.close();
  });
  events.onerror = () => { events.close(); poll(); };
})();
