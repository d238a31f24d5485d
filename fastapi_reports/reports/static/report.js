// Live progress of one report: Server-Sent Events, with polling where they fail.
(() => {
  const section = document.getElementById("report");
  if (!section) return;
  const finished = new Set(["done", "failed", "cancelled"]);
  const show = (name, text) => {
    section.querySelector(`[data-testid="${name}"]`).textContent = text;
  };

  // The tasks' timeline, fetched again whenever the report changes.
  const timeline = document.querySelector("#timeline tbody");
  const cell = (text) => {
    const td = document.createElement("td");
    td.textContent = text;
    return td;
  };
  function showTimeline(events) {
    let before = null;
    timeline.replaceChildren(...events.map((event) => {
      const at = new Date(event.at);
      const row = document.createElement("tr");
      row.dataset.kind = event.kind;
      const time = document.createElement("time");
      time.dateTime = event.at;
      time.textContent = at.toISOString().slice(11, 23);
      const since = before === null ? "" : `+${((at - before) / 1000).toFixed(3)} s`;
      const task = document.createElement("code");
      task.textContent = event.task_id.slice(0, 8);
      const taskCell = cell("");
      taskCell.title = event.task_name;
      taskCell.append(task);
      const timeCell = cell("");
      timeCell.append(time);
      row.append(timeCell, cell(since), cell(event.kind), cell(event.detail), taskCell);
      before = at;
      return row;
    }));
  }
  function refreshTimeline() {
    const url = document.getElementById("timeline").dataset.url;
    fetch(url, { headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response)))
      .then(showTimeline)
      .catch(() => {}); // the next change fetches it again
  }

  function render(report) {
    refreshTimeline();
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
    // The task's own end (succeeded, failed) is recorded just after it writes the row.
    if (finished.has(report.status)) setTimeout(refreshTimeline, 1500);
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
