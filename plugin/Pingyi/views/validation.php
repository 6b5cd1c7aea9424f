<?php
/**
 * The Pingyi check in the survey settings: what the daemon would reject, each with a link
 * to the question. Data: $problems (Validator), $lang ('zh'|'en'), $sid.
 * @var array<int, array<string, mixed>> $problems
 * @var string $lang
 * @var int $sid
 */
$errors = array_filter($problems, static function (array $p): bool {
    return $p['severity'] === 'error';
});
// a survey Pingyi is not enabled for is not "complete", whatever else is set
$enabled = !in_array('not_enabled', array_column($problems, 'code'), true);
?>
<div class="pingyi-check">
    <h4><?= CHtml::encode(\Pingyi\Messages::text('validation_title', $lang)) ?></h4>
    <?php if (!$errors && $enabled) : ?>
        <div class="alert alert-success"><?= CHtml::encode(\Pingyi\Messages::text('validation_ok', $lang)) ?></div>
    <?php endif; ?>
    <?php if ($problems) : ?>
        <ul class="list-unstyled">
        <?php foreach ($problems as $p) : ?>
            <li class="text-<?= $p['severity'] === 'error' ? 'danger' : 'warning' ?>">
                <?= CHtml::encode($p['message'][$lang]) ?>
                <?php if ($p['qid'] !== null) : ?>
                    <a href="<?= CHtml::encode(App()->createUrl('questionAdministration/view', ['surveyid' => $sid, 'qid' => $p['qid']])) ?>">
                        <?= CHtml::encode((string) $p['question']) ?>
                    </a>
                <?php endif; ?>
            </li>
        <?php endforeach; ?>
        </ul>
    <?php endif; ?>
</div>
