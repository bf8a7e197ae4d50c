/**
 * Alarms to an encrypted SNS topic: Kinesis iterator age and write throttling, Firehose data
 * freshness and delivery failures, and (EventBridge) Glue job runs and crawls that failed.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface AlarmsProps {
  readonly prefix: string;
  readonly key: kms.IKey;
  /** The Kinesis stream (absent with `sink=firehose`). */
  readonly stream?: kinesis.IStream | undefined;
  /** Firehose delivery stream name, when Firehose lands bronze. */
  readonly deliveryStreamName?: string;
  readonly firehoseBufferSecs: number;
  readonly glueJobNames: string[];
  readonly crawlerNames: string[];
  readonly alarmEmail?: string;
}

export class Alarms extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', {
      topicName: `${props.prefix}-alarms`,
      displayName: `${props.prefix} alarms`,
      masterKey: props.key,
      enforceSSL: true,
    });
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    const action = new cwActions.SnsAction(this.topic);

    const alarm = (
      alarmId: string,
      metric: cloudwatch.Metric,
      opts: Omit<cloudwatch.CreateAlarmOptions, 'alarmName'>,
    ) => {
      const a = metric.createAlarm(this, alarmId, {
        alarmName: `${props.prefix}-${alarmId}`,
        ...opts,
      });
      a.addAlarmAction(action);
      a.addOkAction(action);
      this.alarms.push(a);
      return a;
    };
    const fiveMinutes = Duration.minutes(5);

    const stream = props.stream;
    if (stream) {
      // Kinesis: the slowest consumer is behind by more than 10 minutes.
      alarm(
        'KinesisIteratorAge',
        stream.metricGetRecordsIteratorAgeMilliseconds({ statistic: 'Maximum', period: fiveMinutes }),
        {
          alarmDescription:
            'A consumer of the stream (Firehose or the bronze writer) is more than 10 minutes behind.',
          threshold: 10 * 60 * 1000,
          evaluationPeriods: 3,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        },
      );
      // Kinesis: writes throttled for 15 minutes (the producer retries; sustained throttling means more shards).
      alarm(
        'KinesisWriteThrottled',
        stream.metricWriteProvisionedThroughputExceeded({ statistic: 'Sum', period: fiveMinutes }),
        {
          alarmDescription:
            'PutRecords throttled in 3 consecutive 5-minute periods: add shards (or check on-demand limits).',
          threshold: 0,
          evaluationPeriods: 3,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        },
      );
    }

    if (props.deliveryStreamName) {
      const firehoseMetric = (metricName: string, statistic: string) =>
        new cloudwatch.Metric({
          namespace: 'AWS/Firehose',
          metricName,
          dimensionsMap: { DeliveryStreamName: props.deliveryStreamName as string },
          statistic,
          period: fiveMinutes,
        });
      // Oldest record not yet in S3: buffer interval plus the 300 s dynamic-partitioning retry window, plus slack.
      alarm('FirehoseDataFreshness', firehoseMetric('DeliveryToS3.DataFreshness', 'Maximum'), {
        alarmDescription:
          'Records wait in Firehose longer than its buffer plus retries: S3 delivery is failing or slow.',
        threshold: props.firehoseBufferSecs + 900,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm('FirehoseDeliveryFailures', firehoseMetric('DeliveryToS3.Success', 'Minimum'), {
        alarmDescription:
          'Firehose S3 deliveries failed (DeliveryToS3.Success below 1); see its error log and bronze-errors/.',
        threshold: 1,
        evaluationPeriods: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm('FirehosePartitionErrors', firehoseMetric('PartitionCountExceeded', 'Maximum'), {
        alarmDescription:
          'Firehose exceeded its active dynamic partitions (500 by default): records go to bronze-errors/.',
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }

    // Glue: every failed, timed-out or errored run of our jobs, and every failed crawl.
    new events.Rule(this, 'GlueJobFailed', {
      ruleName: `${props.prefix}-glue-job-failed`,
      description: 'A run of a lake Glue job FAILED, TIMEOUT or ERROR',
      eventPattern: {
        source: ['aws.glue'],
        detailType: ['Glue Job State Change'],
        detail: { jobName: props.glueJobNames, state: ['FAILED', 'TIMEOUT', 'ERROR'] },
      },
      targets: [new targets.SnsTopic(this.topic)],
    });
    new events.Rule(this, 'GlueCrawlerFailed', {
      ruleName: `${props.prefix}-glue-crawler-failed`,
      description: 'A crawl of a lake Glue crawler failed',
      eventPattern: {
        source: ['aws.glue'],
        detailType: ['Glue Crawler State Change'],
        detail: { crawlerName: props.crawlerNames, state: ['Failed'] },
      },
      targets: [new targets.SnsTopic(this.topic)],
    });
  }
}
