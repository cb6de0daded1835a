from django.apps import AppConfig


class ReviewConfig(AppConfig):
    """The approval queue: services, APIs and browser pages over ``annotations.ReviewItem`` (no models of its own).

    It sits above inference and clinical: a succeeded prediction of the active ensemble gets its review item
    through the hook registered here (docs/architecture.md, "Layers").
    """

    name = "review"
    verbose_name = "Review queue"

    def ready(self) -> None:
        from inference.predictions import prediction_succeeded_hook_register
        from review.services import review_item_create_for_prediction

        prediction_succeeded_hook_register(review_item_create_for_prediction)
