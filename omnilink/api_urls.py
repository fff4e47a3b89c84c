from .api import CampaignViewSet

routes = [("omnilink/campaigns", CampaignViewSet, "omnilink-campaign")]
