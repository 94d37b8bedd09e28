// Draws the reports page's charts with Chart.js: tickets opened and closed per day, the backlog at the end of
// each day, and the share of tickets on time per priority. The figures come from the page's
// `<script type="application/json" id="report-data">` block (the CSP allows no inline script); the tables
// beside each chart say the same in words, so without this script nothing is lost but the pictures.
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";

// Only the parts these three charts use, so the bundle stays small.
Chart.register(BarController, BarElement, CategoryScale, Legend, LinearScale, LineController, LineElement,
  PointElement, Tooltip);

const COLOURS = { opened: "#2f6fb0", closed: "#3b8f54", backlog: "#b0602f", late: "#8a5cb8" };

function reportData() {
  const block = document.getElementById("report-data");
  if (!block) return null;
  try {
    return JSON.parse(block.textContent);
  } catch (error) {
    return null;
  }
}

function draw(id, config) {
  const canvas = document.getElementById(id);
  if (canvas) new Chart(canvas, config);
}

function wholeNumbers() {
  return { beginAtZero: true, ticks: { precision: 0 } };
}

function volume(data) {
  draw("chart-volume", {
    type: "bar",
    data: {
      labels: data.days,
      datasets: [
        { label: "Opened", data: data.opened, backgroundColor: COLOURS.opened },
        { label: "Closed", data: data.closed, backgroundColor: COLOURS.closed },
      ],
    },
    options: { animation: false, scales: { y: wholeNumbers() } },
  });
}

function backlog(data) {
  draw("chart-backlog", {
    type: "line",
    data: {
      labels: data.days,
      datasets: [{ label: "Open at the end of the day", data: data.backlog, borderColor: COLOURS.backlog,
        backgroundColor: COLOURS.backlog, pointRadius: data.days.length > 62 ? 0 : 2 }],
    },
    options: { animation: false, scales: { y: wholeNumbers() } },
  });
}

function serviceLevels(data) {
  draw("chart-sla", {
    type: "bar",
    data: {
      labels: data.priorities,
      datasets: [
        { label: "First response on time (%)", data: data.first_response, backgroundColor: COLOURS.opened },
        { label: "Resolved on time (%)", data: data.resolution, backgroundColor: COLOURS.late },
      ],
    },
    options: {
      animation: false,
      scales: { y: { beginAtZero: true, max: 100, ticks: { callback: (value) => `${value}%` } } },
    },
  });
}

function main() {
  const data = reportData();
  if (!data) return;
  volume(data);
  backlog(data);
  serviceLevels(data);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", main);
} else {
  main();
}
