/**
 * The parts of Apache ECharts the views use (parallel coordinates with axis brushing, bar
 * charts, scatter plots), registered once. Imported only through ``loadECharts()``, so webpack puts it in a
 * chunk of its own that loads when a charts panel first draws one of these.
 */
import { BarChart, ParallelChart, ScatterChart } from 'echarts/charts';
import {
  GridComponent,
  ParallelComponent,
  TooltipComponent,
  VisualMapComponent
} from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([
  BarChart,
  ParallelChart,
  ScatterChart,
  GridComponent,
  ParallelComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer
]);

export { echarts };
