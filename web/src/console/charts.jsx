// Insight charts with Apache ECharts (SVG renderer), each described in words and with the
// numbers in a table beside it. Buckets the API left out (under the privacy threshold) are
// named in words and never drawn, not even as zero.
import { BarChart } from 'echarts/charts';
import { GridComponent, TooltipComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { SVGRenderer } from 'echarts/renderers';
import { useEffect, useRef } from 'react';
import { useI18n } from './i18n.js';

echarts.use([BarChart, GridComponent, TooltipComponent, SVGRenderer]);

// ECharts draws into the inner box (hidden from assistive technology); the outer one says
// in words what is drawn, suppressed buckets left out.
function Chart({ option, label, name }) {
  const box = useRef(null);
  useEffect(() => {
    const chart = echarts.init(box.current, null, { renderer: 'svg' });
    chart.setOption(option);
    const resize = () => chart.resize();
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      chart.dispose();
    };
  }, [option]);
  return (
    <div className="chart" role="img" aria-label={label} data-chart={name}>
      <div ref={box} className="chart-canvas" aria-hidden="true" />
    </div>
  );
}

function DataTable({ rows, caption }) {
  const { t } = useI18n();
  return (
    <details>
      <summary>{t('dataTable')}</summary>
      <table className="data" data-table={caption}>
        <thead>
          <tr>
            <th scope="col">{t('key')}</th>
            <th scope="col">{t('count')}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([key, count]) => (
            <tr key={key}>
              <th scope="row">{key}</th>
              <td>{count}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

export function InterestsChart({ buckets, threshold }) {
  const { t } = useI18n();
  const rows = buckets.map((b) => [b.key, b.count]);
  const option = {
    tooltip: {},
    grid: { left: 8, right: 16, top: 8, bottom: 8, containLabel: true },
    xAxis: { type: 'value' },
    yAxis: { type: 'category', inverse: true, data: rows.map((r) => r[0]) },
    series: [{ type: 'bar', name: t('interests'), barMaxWidth: 36, data: rows.map((r) => r[1]) }],
  };
  return (
    <figure>
      <figcaption>
        <h3>{t('interests')}</h3>
      </figcaption>
      {rows.length ? (
        <Chart option={option} name="interests" label={`${t('interests')}: ${rows.map((r) => `${r[0]} ${r[1]}`).join(', ')}`} />
      ) : (
        <p>{t('empty')}</p>
      )}
      <p className="note">{t('suppressedInterests', { n: threshold })}</p>
      <DataTable rows={rows} caption="interests" />
    </figure>
  );
}

export function HoursChart({ buckets, threshold }) {
  const { t } = useI18n();
  const counts = new Map(buckets.map((b) => [Number(b.key), b.count]));
  const hours = Array.from({ length: 24 }, (_, h) => h);
  const hidden = hours.filter((h) => !counts.has(h));
  const label = (h) => t('hour', { h: String(h).padStart(2, '0') });
  const option = {
    tooltip: {},
    grid: { left: 8, right: 8, top: 8, bottom: 8, containLabel: true },
    xAxis: { type: 'category', data: hours.map(label) },
    yAxis: { type: 'value' },
    // a suppressed hour is '-' (no bar at all), never 0
    series: [{ type: 'bar', name: t('activeHours'), data: hours.map((h) => (counts.has(h) ? counts.get(h) : '-')) }],
  };
  const shown = hours.filter((h) => counts.has(h));
  return (
    <figure>
      <figcaption>
        <h3>{t('activeHours')}</h3>
      </figcaption>
      <Chart
        option={option}
        name="activeHours"
        label={`${t('activeHours')}: ${shown.map((h) => `${label(h)} ${counts.get(h)}`).join(', ')}`}
      />
      <p className="note" data-suppressed={hidden.join(',')}>
        {hidden.length
          ? t('suppressedHours', { n: threshold, hours: hidden.map(label).join(', ') })
          : t('noSuppressedHours')}
      </p>
      <DataTable rows={shown.map((h) => [label(h), counts.get(h)])} caption="activeHours" />
    </figure>
  );
}
